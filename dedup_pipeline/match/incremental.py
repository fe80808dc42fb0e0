"""Score only the pairs a batch of new records brings, with an already trained model.

A nightly run must not re-score a million records to place ten thousand new ones. Splink 5
scores *between* two collections (`predict_between`: new x existing, never existing x
existing) and *within* one (`predict_within`: new x new), with the same blocking rules and
weights as a full prediction. Term frequencies come from every record, as in a full run,
so a pair scores the same either way.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from splink import Linker
from splink.internals.database_api import DatabaseAPI

from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match.model import (
    SCORED_PAIRS_SCHEMA,
    check_model_compatible,
    flag_and_fetch_pairs,
)
from dedup_pipeline.schema import require_columns

__all__ = ["score_new_records", "term_frequency_columns"]


def term_frequency_columns(model: dict[str, Any]) -> list[str]:
    """The input columns whose term frequencies a saved Splink model adjusts by."""
    columns = {
        level["tf_adjustment_column"]
        for comparison in model.get("comparisons", [])
        for level in comparison.get("comparison_levels", [])
        if level.get("tf_adjustment_column")
    }
    return sorted(columns)


def score_new_records(
    match_input: pl.DataFrame,
    new_record_ids: pl.Series,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
    model: dict[str, Any],
) -> pl.DataFrame:
    """Score every candidate pair that has at least one new record.

    Parameters
    ----------
    match_input
        Every record, prepared for matching (`prepare_match_input`): existing and new.
    new_record_ids
        The records to place; the others are existing.
    db_api
        Splink database API that does the work.
    config
        Matching options; the model must compare what they compare.
    model
        The trained model (e.g. the last full sweep's ``splink_model.json``).

    Returns
    -------
    polars.DataFrame
        Scored pairs as the full run exports them (`SCORED_PAIRS_SCHEMA`, ``names_conflict``
        and ``mw_*`` columns), ``record_id_l < record_id_r``, above
        ``config.candidate_threshold``.

    Raises
    ------
    IncompatibleModelError
        When `model` does not compare what `config` compares.
    """
    check_model_compatible(model, config)
    require_columns(match_input, ["record_id"], table="match input")
    is_new = pl.col("record_id").is_in(new_record_ids.implode())
    new = match_input.filter(is_new)
    existing = match_input.filter(~is_new)
    everyone = db_api.register(match_input.to_arrow(), table_name="contacts_for_matching")
    linker = Linker(everyone, model, log_level=None)
    for column in term_frequency_columns(model):
        linker.table_management.compute_tf_table(column)
    new_table = db_api.register(new.to_arrow(), table_name="new_contacts")
    existing_table = db_api.register(existing.to_arrow(), table_name="existing_contacts")
    bits = math.log2(config.candidate_threshold / (1 - config.candidate_threshold))
    predictions = []
    if new.height and existing.height:
        predictions.append(
            linker.inference.predict_between(
                new_table, existing_table, threshold_match_weight=bits, warning_mode="never"
            )
        )
    if new.height > 1:
        predictions.append(
            linker.inference.predict_within(
                new_table, threshold_match_weight=bits, warning_mode="never"
            )
        )
    frames = []
    for prediction in predictions:
        flagged, pairs = flag_and_fetch_pairs(prediction, db_api=db_api, config=config)
        flagged.drop_table_from_database_and_remove_from_cache()
        prediction.drop_table_from_database_and_remove_from_cache()
        frames.append(pairs)
    if not frames:
        return pl.DataFrame(schema={**SCORED_PAIRS_SCHEMA, "names_conflict": pl.Boolean()})
    pairs = pl.concat(frames, how="diagonal_relaxed")
    # predict_between puts the new record on the left; the pair tables order ids.
    swap = pl.col("record_id_l") > pl.col("record_id_r")
    return pairs.with_columns(
        record_id_l=pl.when(swap).then("record_id_r").otherwise("record_id_l"),
        record_id_r=pl.when(swap).then("record_id_l").otherwise("record_id_r"),
    ).sort("record_id_l", "record_id_r")
