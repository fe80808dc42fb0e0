"""Score only the pairs a batch of new records brings, with an already trained model.

A nightly run must not re-score a million records to place ten thousand new ones. Splink 5
scores *between* two collections (`predict_between`: new x existing, never existing x
existing) and *within* one (`predict_within`: new x new), with the same blocking rules and
weights as a full prediction. Term frequencies come from every record, as in a full run,
so a pair scores the same either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl
from splink import Linker
from splink.internals.database_api import DatabaseAPI

from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match.frequencies import PersonFrequencies
from dedup_pipeline.match.model import (
    SCORED_PAIRS_SCHEMA,
    check_model_compatible,
    cluster_scored_pairs,
    flag_and_fetch_pairs,
    names_veto,
    sharing_a_blocking_key,
)
from dedup_pipeline.schema import require_columns

__all__ = [
    "IncrementalMatch",
    "match_incrementally",
    "score_new_records",
]


def _score_touching(
    linker: Linker,
    new_table: Any,
    existing_table: Any | None,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
) -> pl.DataFrame:
    """Pairs new x existing and new x new, in the exported shape, ``record_id_l < _r``."""
    bits = math.log2(config.candidate_threshold / (1 - config.candidate_threshold))
    predictions = []
    if existing_table is not None:
        predictions.append(
            linker.inference.predict_between(
                new_table, existing_table, threshold_match_weight=bits, warning_mode="never"
            )
        )
    predictions.append(
        linker.inference.predict_within(
            new_table, threshold_match_weight=bits, warning_mode="never"
        )
    )
    frames = []
    keep_apart = names_veto(config, linker.misc.save_model_to_json())
    for prediction in predictions:
        flagged, pairs = flag_and_fetch_pairs(
            prediction, db_api=db_api, config=config, keep_apart=keep_apart
        )
        flagged.drop_table_from_database_and_remove_from_cache()
        prediction.drop_table_from_database_and_remove_from_cache()
        frames.append(pairs)
    pairs = pl.concat(frames, how="diagonal_relaxed")
    # predict_between puts the new record on the left; the pair tables order ids.
    swap = pl.col("record_id_l") > pl.col("record_id_r")
    return pairs.with_columns(
        record_id_l=pl.when(swap).then("record_id_r").otherwise("record_id_l"),
        record_id_r=pl.when(swap).then("record_id_l").otherwise("record_id_r"),
    ).sort("record_id_l", "record_id_r")


def _linker_over_everyone(
    match_input: pl.DataFrame, db_api: DatabaseAPI, model: dict[str, Any]
) -> tuple[Linker, Any]:
    everyone = db_api.register(match_input.to_arrow(), table_name="contacts_for_matching")
    linker = PersonFrequencies(db_api, match_input, model).apply(
        Linker(everyone, model, log_level=None)
    )
    return linker, everyone


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
    linker, _ = _linker_over_everyone(match_input, db_api, model)
    return _score_placed(match_input, new_record_ids, linker, db_api=db_api, config=config)


def _score_placed(
    match_input: pl.DataFrame,
    placed_record_ids: pl.Series,
    linker: Linker,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
) -> pl.DataFrame:
    """Pairs touching the placed records, or none when nothing is placed."""
    is_placed = pl.col("record_id").is_in(placed_record_ids.implode())
    placed = match_input.filter(is_placed)
    if placed.is_empty():
        return pl.DataFrame(schema={**SCORED_PAIRS_SCHEMA, "names_conflict": pl.Boolean()})
    # Only records sharing a blocking key with a placed one can pair with it; term
    # frequencies still come from everyone (the linker's tables).
    settled = sharing_a_blocking_key(match_input.filter(~is_placed), placed, config)
    return _score_touching(
        linker,
        db_api.register(placed.to_arrow(), table_name="placed_contacts"),
        (
            db_api.register(settled.to_arrow(), table_name="settled_contacts")
            if settled.height
            else None
        ),
        db_api=db_api,
        config=config,
    )


@dataclass(frozen=True)
class IncrementalMatch:
    """Output of `match_incrementally`.

    Attributes
    ----------
    scored_pairs
        Every scored pair of this run: the previous run's between records that did not
        change, plus the pairs the placed records bring.
    clusters
        ``record_id``, ``strong_cluster_id`` and ``candidate_cluster_id`` for every record.
    new_pairs
        How many pairs the placed records brought.
    reclustered
        The records clustered again (all of them without previous clusters). Every other
        record's candidate component is the one it had.
    """

    scored_pairs: pl.DataFrame
    clusters: pl.DataFrame
    new_pairs: int
    reclustered: pl.Series


def _reachable(pairs: pl.DataFrame, seeds: pl.Series, threshold: float) -> pl.Series:
    """Records connected to ``seeds`` by pairs at or above ``threshold``, seeds included."""
    edges = pairs.filter(pl.col("match_probability") >= threshold).select(
        "record_id_l", "record_id_r"
    )
    both_ways = pl.concat(
        [edges, edges.select(record_id_l="record_id_r", record_id_r="record_id_l")]
    )
    reached = seeds.unique().rename("record_id").to_frame()
    frontier = reached
    # Breadth first: clusters are shallow, so a few joins reach every member.
    while frontier.height:
        neighbours = (
            both_ways.join(frontier, left_on="record_id_l", right_on="record_id", how="semi")
            .select(record_id="record_id_r")
            .unique()
        )
        frontier = neighbours.join(reached, on="record_id", how="anti")
        reached = pl.concat([reached, frontier])
    return reached.get_column("record_id")


def match_incrementally(
    match_input: pl.DataFrame,
    placed_record_ids: pl.Series,
    previous_pairs: pl.DataFrame,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
    model: dict[str, Any],
    auto_merge_threshold: float,
    review_threshold: float,
    previous_clusters: pl.DataFrame | None = None,
) -> IncrementalMatch:
    """Place new and changed records among the others without re-scoring the others.

    Parameters
    ----------
    match_input
        Every current record, prepared for matching.
    placed_record_ids
        New and changed records: scored afresh against everyone.
    previous_pairs
        The previous run's scored pairs. Pairs of a placed record or of a record no
        longer present are dropped; the rest are kept as scored.
    db_api, config, model
        As for `score_new_records`.
    auto_merge_threshold, review_threshold
        As for `score_and_cluster`.
    previous_clusters
        The previous run's clusters (``record_id``, ``strong_cluster_id``,
        ``candidate_cluster_id``). When given, only the records connected to a placed
        record, or to a partner of a dropped pair, are clustered again; every other
        record's component is unchanged and keeps its clusters. Cluster ids are the
        smallest record id of a component, so the result equals clustering everything.
        Thresholds must be the ones the previous clusters were made with.
    """
    check_model_compatible(model, config)
    present = match_input.get_column("record_id").implode()
    placed = placed_record_ids.implode()
    kept = previous_pairs.filter(
        pl.col("record_id_l").is_in(present)
        & pl.col("record_id_r").is_in(present)
        & ~pl.col("record_id_l").is_in(placed)
        & ~pl.col("record_id_r").is_in(placed)
    )
    linker, everyone = _linker_over_everyone(match_input, db_api, model)
    fresh = _score_placed(match_input, placed_record_ids, linker, db_api=db_api, config=config)
    pairs = pl.concat([kept, fresh], how="diagonal_relaxed").select(kept.columns)
    thresholds = {
        "auto_merge_threshold": auto_merge_threshold,
        "review_threshold": review_threshold,
    }
    if previous_clusters is None:
        flagged = db_api.register(pairs.to_arrow(), table_name="incremental_scored_pairs")
        clusters = cluster_scored_pairs(
            flagged, pairs, linker=linker, table=everyone, config=config, **thresholds
        )
        return IncrementalMatch(
            scored_pairs=pairs,
            clusters=clusters,
            new_pairs=fresh.height,
            reclustered=clusters.get_column("record_id"),
        )

    # Pairs lost with a placed or deleted record may split its partners' clusters.
    dropped = previous_pairs.join(kept, on=["record_id_l", "record_id_r"], how="anti")
    seeds = pl.concat(
        [
            placed_record_ids.rename("record_id"),
            *(
                frame.get_column(side).rename("record_id")
                for frame in (dropped, fresh)
                for side in ("record_id_l", "record_id_r")
            ),
        ]
    )
    affected = _reachable(pairs, seeds, review_threshold).implode()
    settled = previous_clusters.filter(
        pl.col("record_id").is_in(present) & ~pl.col("record_id").is_in(affected)
    ).select("record_id", "strong_cluster_id", "candidate_cluster_id")
    members = match_input.filter(pl.col("record_id").is_in(affected))
    if members.is_empty():
        return IncrementalMatch(
            scored_pairs=pairs,
            clusters=settled,
            new_pairs=fresh.height,
            reclustered=members.get_column("record_id"),
        )
    inside = pairs.filter(
        pl.col("record_id_l").is_in(affected) & pl.col("record_id_r").is_in(affected)
    )
    table = db_api.register(members.to_arrow(), table_name="affected_contacts")
    flagged = db_api.register(inside.to_arrow(), table_name="incremental_scored_pairs")
    recomputed = cluster_scored_pairs(
        flagged,
        inside,
        linker=Linker(table, model, log_level=None),
        table=table,
        config=config,
        **thresholds,
    )
    clusters = pl.concat([settled, recomputed.select(settled.columns)])
    return IncrementalMatch(
        scored_pairs=pairs,
        clusters=clusters,
        new_pairs=fresh.height,
        reclustered=members.get_column("record_id"),
    )
