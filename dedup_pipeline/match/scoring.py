"""Scoring candidate pairs with a model that agrees with its own predictions.

Two of the model's parameters are read back from its scores: the prior (the share of
pairs that match, `expected_match_rate`) and the u of identifier levels (the share of
*non-matching* pairs that share a personal phone or e-mail, `settled_identifier_u`). Each
moves the other, so they are refined in rounds. Blocking and comparing a million records
is the costly part of a round; a round whose model changed little re-scores the pairs
already compared (`rescore`: Splink's own scoring SQL over the retained comparison
vectors) instead of predicting again, so the refinement costs one prediction, not three.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import polars as pl
from splink import Linker
from splink.internals.pipeline import CTEPipeline
from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings
from splink.internals.splink_dataframe import SplinkDataFrame

from dedup_pipeline.match.training import levels_by_key, u_among_scored_non_matches

__all__ = [
    "expected_match_rate",
    "identifier_u_from_scores",
    "largest_gain",
    "level_weights",
    "predict_with_refined_prior",
    "rescore",
    "settled_identifier_u",
    "to_polars",
]

logger = logging.getLogger(__name__)

#: Bits below the candidate threshold scored when refining the prior (room for it to grow).
PRIOR_SLACK_BITS = 4.0
_MAX_PRIOR_ROUNDS = 3
_MAX_PRIOR_FACTOR = 4.0
#: Rounds of `settled_identifier_u`; each moves u less than the one before.
_U_ROUNDS = 50


def to_polars(frame: SplinkDataFrame, columns: list[str]) -> pl.DataFrame:
    """Fetch columns of a Splink table as polars (Arrow end to end on DuckDB)."""
    selected = frame.query_sql(f"select {', '.join(columns)} from {{this}}")
    try:
        return pl.from_arrow(selected.as_pyarrow_table())  # type: ignore[return-value]
    finally:
        selected.drop_table_from_database_and_remove_from_cache()


def rescore(predictions: SplinkDataFrame, linker: Linker) -> SplinkDataFrame:
    """The pairs of ``predictions`` scored by ``linker``'s model, without comparing again.

    Splink's own scoring SQL runs over the comparison vectors and term frequencies that
    ``predictions`` retained (``retain_intermediate_calculation_columns``), so every
    column is what ``linker.inference.predict`` would give these pairs; only pairs that
    it would newly lift over a threshold are missing, which `largest_gain` bounds.
    """
    pipeline = CTEPipeline()
    pipeline.enqueue_sql(
        f"select * from {predictions.physical_name}", "__splink__df_comparison_vectors"
    )
    pipeline.enqueue_list_of_sqls(
        predict_from_comparison_vectors_sqls_using_settings(linker._settings_obj)
    )
    return linker._db_api.sql_pipeline_to_splink_dataframe(pipeline)


def _bits(probability: float) -> float:
    return math.log2(probability / (1 - probability))


def largest_gain(scored_with: dict[str, Any], scoring: dict[str, Any]) -> float:
    """The most match weight any pair can gain going from model ``scored_with`` to
    ``scoring`` (same comparisons and levels, other parameters).

    Per comparison the largest rise of a level's weight ``log2(m / u)``, plus, where the
    comparison adjusts by term frequency (whose adjustment grows with the exact level's
    u), the largest rise of a u times the adjustment's weight; and the prior's rise.
    """
    prior = "probability_two_random_records_match"
    gain = max(0.0, _bits(scoring[prior]) - _bits(scored_with[prior]))
    for old, new in zip(scored_with["comparisons"], scoring["comparisons"], strict=True):
        level_gain, u_rise, tf_weight = 0.0, 0.0, 0.0
        for before, after in zip(old["comparison_levels"], new["comparison_levels"], strict=True):
            if before.get("is_null_level"):
                continue
            m0, u0 = before["m_probability"], before["u_probability"]
            m1, u1 = after["m_probability"], after["u_probability"]
            level_gain = max(level_gain, math.log2(m1 / u1) - math.log2(m0 / u0))
            u_rise = max(u_rise, math.log2(u1 / u0))
            if after.get("tf_adjustment_column"):
                tf_weight = max(tf_weight, after.get("tf_adjustment_weight", 1.0))
        gain += level_gain + tf_weight * u_rise
    return gain


def expected_match_rate(match_weights: pl.Series, prior: float, total_pairs: float) -> float:
    """The prior that agrees with the model's own predictions (a fixed point).

    Given each candidate pair's match weight *without* the prior, the expected number of
    matches under a prior λ is the sum of the pairs' probabilities; dividing by all
    possible pairs gives a new λ. Iterating converges to the λ at which the model expects
    as many matches as its prior says. Pairs outside the candidates count as non-matches,
    so a blocking scheme that misses matches errs on the cautious side.
    """
    if match_weights.is_empty():
        return prior
    bayes = (2.0 ** match_weights.cast(pl.Float64)).to_numpy()
    rate = prior
    for _ in range(100):
        odds = rate / (1 - rate)
        expected = float((bayes * odds / (1 + bayes * odds)).sum())
        updated = min(max(expected / total_pairs, 1e-12), 0.5)
        if abs(updated - rate) <= 1e-3 * rate:
            return updated
        rate = updated
    return rate


def _refined_prior(predictions: SplinkDataFrame, prior: float, record_count: int) -> float | None:
    """The self-consistent prior, or None when the model's estimate holds (±25 %)."""
    # Predictions hold weights with the prior included; take it out again.
    weights = to_polars(predictions, ["match_weight"]).get_column("match_weight") - _bits(prior)
    total = record_count * (record_count - 1) / 2
    refined = expected_match_rate(weights, prior, total)
    logger.info("prior %.3g, self-consistent %.3g", prior, refined)
    if abs(refined - prior) <= 0.25 * prior:
        return None
    return refined


def level_weights(
    predictions: SplinkDataFrame, model: dict[str, Any], levels: Collection[str]
) -> dict[str, np.ndarray]:
    """The match weights of the scored pairs in each of ``levels`` (``comparison: label``),
    found by Splink's ``gamma_*`` columns."""
    selects, keys = [], {}
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        counted = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        for index, level in enumerate(counted):
            key = f"{name}: {level.get('label_for_charts')}"
            if key in levels:
                # Splink numbers a comparison's levels from the top one down to 0.
                cvv = len(counted) - 1 - index
                keys[(name, cvv)] = key
                selects.append(
                    f"select '{name}' as comparison, {cvv} as level, match_weight "
                    f"from {{this}} where gamma_{name} = {cvv}"
                )
    found = {key: np.empty(0) for key in keys.values()}
    if not selects:
        return found
    union = predictions.query_sql(" union all ".join(selects))
    try:
        rows = to_polars(union, ["comparison", "level", "match_weight"])
    finally:
        union.drop_table_from_database_and_remove_from_cache()
    for (name, cvv), group in rows.group_by("comparison", "level"):
        found[keys[(str(name), int(cvv))]] = group.get_column("match_weight").to_numpy()
    return found


def settled_identifier_u(
    raw_model: dict[str, Any],
    identifier_pairs: dict[str, float],
    weights: dict[str, np.ndarray],
    scoring_u: dict[str, float],
) -> dict[str, float]:
    """`u_among_scored_non_matches` iterated to its fixed point on one scoring's weights.

    Lowering a level's u raises the weight of its pairs, so more of them are expected
    to match and u falls again; moving the scored weights by the change of u settles
    that without scoring anew. ``scoring_u`` is the u the weights were scored with.
    """
    u = dict(scoring_u)
    for _ in range(_U_ROUNDS):
        expected = {
            key: float(np.sum(1 / (1 + np.exp2(-(values + math.log2(scoring_u[key] / u[key]))))))
            for key, values in weights.items()
            if key in scoring_u
        }
        settled = u_among_scored_non_matches(raw_model, identifier_pairs, expected)
        if all(abs(math.log2(settled[key] / u[key])) < 0.01 for key in settled if key in u):
            return settled
        u.update(settled)
    return u


def identifier_u_from_scores(
    identifier_scores: SplinkDataFrame,
    linker: Linker,
    raw_model: dict[str, Any],
    scoring: dict[str, Any],
    identifier_pairs: dict[str, float],
) -> dict[str, float]:
    """u of identifier levels among non-matches, read from the scores under ``scoring``
    (``linker``'s model) of every pair that shares an identifier (``identifier_scores``)."""
    scored = rescore(identifier_scores, linker)
    try:
        weights = level_weights(scored, raw_model, identifier_pairs)
    finally:
        scored.drop_table_from_database_and_remove_from_cache()
    scoring_u = {
        key: level["u_probability"]
        for key, level in levels_by_key(scoring).items()
        if key in identifier_pairs
    }
    return settled_identifier_u(raw_model, identifier_pairs, weights, scoring_u)


def predict_with_refined_prior(
    make_linker: Callable[[dict[str, Any]], Linker],
    to_scoring: Callable[[dict[str, Any]], dict[str, Any]],
    raw_model: dict[str, Any],
    *,
    record_count: int,
    candidate_bits: float,
    settle_u: Callable[[], None],
) -> tuple[Linker, SplinkDataFrame]:
    """Predict, moving the prior towards the rate of matches the model itself expects.

    ``to_scoring`` turns ``raw_model`` into the model that scores (its u among
    non-matches, which depend on the prior); ``settle_u`` re-reads identifier levels' u
    for the current prior before each round. Pairs are predicted once, a few bits below
    the candidate threshold so that the estimate can grow; later rounds `rescore` them,
    unless their model could lift a pair that was not fetched over the candidate
    threshold (`largest_gain`), when they predict again. The prior moves at most
    `_MAX_PRIOR_FACTOR` times away from the estimate it starts from: a feature many pairs
    share (a mail domain everyone has) must not talk the model into expecting matches
    everywhere. Updates ``raw_model`` in place and returns the final linker and its
    predictions at the candidate threshold.
    """
    prior_key = "probability_two_random_records_match"
    estimate = raw_model[prior_key]
    settle_u()
    fetched_with = to_scoring(raw_model)
    linker = make_linker(fetched_with)
    threshold = candidate_bits - PRIOR_SLACK_BITS
    fetched = linker.inference.predict(threshold_match_weight=threshold, warning_mode="never")
    current = fetched
    for _ in range(_MAX_PRIOR_ROUNDS):
        refined = _refined_prior(current, raw_model[prior_key], record_count)
        if refined is not None:
            bounded = min(max(refined, estimate / _MAX_PRIOR_FACTOR), estimate * _MAX_PRIOR_FACTOR)
            refined = None if bounded == raw_model[prior_key] else bounded
        if refined is None:
            break
        raw_model[prior_key] = refined
        settle_u()
        scoring = to_scoring(raw_model)
        linker = make_linker(scoring)
        if current is not fetched:
            current.drop_table_from_database_and_remove_from_cache()
        gain = largest_gain(fetched_with, scoring)
        logger.info(
            "a pair gains at most %.2f bits: %s",
            gain,
            "re-scored" if gain <= PRIOR_SLACK_BITS else "predicted again",
        )
        if gain <= PRIOR_SLACK_BITS:
            current = rescore(fetched, linker)
        else:
            fetched.drop_table_from_database_and_remove_from_cache()
            fetched = linker.inference.predict(
                threshold_match_weight=threshold, warning_mode="never"
            )
            fetched_with, current = scoring, fetched
    candidates = current.query_sql(f"select * from {{this}} where match_weight >= {candidate_bits}")
    if current is not fetched:
        current.drop_table_from_database_and_remove_from_cache()
    fetched.drop_table_from_database_and_remove_from_cache()
    return linker, candidates
