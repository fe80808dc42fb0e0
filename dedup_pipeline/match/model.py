"""The Splink model: settings, training, scoring and clustering.

Only Splink's public API is used here, against a ``DatabaseAPI`` handed in by the caller,
so the same code runs on DuckDB here and on Spark for bases that outgrow one machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.database_api import DatabaseAPI

from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match.prepare import MATCH_INPUT_SCHEMA
from dedup_pipeline.schema import require_columns

__all__ = [
    "BLOCKING_RULE_NAMES",
    "NAME_CONFLICT_SIMILARITY",
    "SCORED_PAIRS_SCHEMA",
    "BlockingExplosionError",
    "MatchResult",
    "build_settings",
    "name_conflict_sql",
    "score_and_cluster",
]

logger = logging.getLogger(__name__)

#: Scored candidate pairs, one row per pair with ``record_id_l < record_id_r``.
SCORED_PAIRS_SCHEMA: dict[str, pl.DataType] = {
    "record_id_l": pl.String(),
    "record_id_r": pl.String(),
    "match_weight": pl.Float64(),
    "match_probability": pl.Float64(),
    "match_key": pl.String(),
}

#: Human-readable names of the prediction blocking rules, by Splink's ``match_key``.
BLOCKING_RULE_NAMES: tuple[str, ...] = (
    "same phone",
    "same e-mail",
    "same first and last name",
    "first and last name swapped",
)


_MIN_TRAINING_PAIRS = 50
_MAX_TRAINING_PAIRS = 5_000_000


def _training_rules() -> list[Any]:
    return [
        block_on("phone_key"),
        block_on("email_key"),
        block_on("first_name", "last_name"),
    ]


#: Name similarity below which two present names count as different people's.
NAME_CONFLICT_SIMILARITY = 0.8


def name_conflict_sql(jaro_winkler: str, sql_dialect: str = "duckdb") -> str:
    """SQL that is true when a pair's names belong to different people.

    Both records have first and last names, and either nothing is alike (first or last
    names, in the given order or swapped: colleagues on one switchboard), or the last
    names are alike but the first names are neither alike nor nicknames of one another
    (family members sharing a home phone). Such a pair may share phones and mailboxes,
    but it is never merged automatically.
    """
    threshold = NAME_CONFLICT_SIMILARITY

    def alike(left: str, right: str) -> str:
        return f"{jaro_winkler}({left}, {right}) >= {threshold}"

    nicknames = (
        cll.ArrayIntersectLevel("first_name_variants", 1)
        .get_comparison_level(sql_dialect)
        .sql_condition
    )
    strangers = (
        f"not ({alike('first_name_l', 'first_name_r')} or {alike('last_name_l', 'last_name_r')}"
        f" or {alike('first_name_l', 'last_name_r')} or {alike('last_name_l', 'first_name_r')})"
    )
    relatives = (
        f"({alike('last_name_l', 'last_name_r')} and not {alike('first_name_l', 'first_name_r')}"
        f" and not coalesce({nicknames}, false))"
    )
    return (
        "(first_name_l is not null and first_name_r is not null "
        "and last_name_l is not null and last_name_r is not null "
        f"and ({strangers} or {relatives}))"
    )


class BlockingExplosionError(RuntimeError):
    """A blocking rule would generate more candidate pairs than allowed."""


def _prediction_rules() -> list[Any]:
    return [
        block_on("phones_block", arrays_to_explode=["phones_block"]),
        block_on("emails_block", arrays_to_explode=["emails_block"]),
        block_on("name_key"),
        "l.first_name = r.last_name and l.last_name = r.first_name",
    ]


def _name_comparison() -> cl.CustomComparison:
    """Splink's forename/surname comparison plus a level for nicknames ("Саша" ~ "Александр")."""
    return cl.CustomComparison(
        output_column_name="first_name_last_name",
        comparison_levels=[
            cll.And(cll.NullLevel("first_name"), cll.NullLevel("last_name")),
            cll.And(cll.ExactMatchLevel("first_name"), cll.ExactMatchLevel("last_name")),
            cll.ColumnsReversedLevel("first_name", "last_name", symmetrical=True),
            cll.And(
                cll.JaroWinklerLevel("first_name", 0.92), cll.JaroWinklerLevel("last_name", 0.92)
            ),
            cll.And(
                cll.ArrayIntersectLevel("first_name_variants", 1),
                cll.JaroWinklerLevel("last_name", 0.88),
            ).configure(label_for_charts="First name a nickname of the other, last name alike"),
            cll.And(
                cll.JaroWinklerLevel("first_name", 0.88), cll.JaroWinklerLevel("last_name", 0.88)
            ),
            cll.ExactMatchLevel("last_name").configure(tf_adjustment_column="last_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            cll.ElseLevel(),
        ],
    )


def build_settings(config: MatchConfig) -> SettingsCreator:
    """Return the Splink settings of the contact model."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=config.probability_two_random_records_match or 1e-4,
        blocking_rules_to_generate_predictions=_prediction_rules(),
        comparisons=[
            _name_comparison(),
            cl.ArrayIntersectAtSizes("phones", [1]),
            cl.ArrayIntersectAtSizes("emails", [1]),
            cl.JaroWinklerAtThresholds("company", [0.9]),
            cl.ExactMatch("city"),
        ],
        additional_columns_to_retain=["source"],
        retain_intermediate_calculation_columns=True,
        # The guard against conflicting names reads the compared names of each pair.
        retain_matching_columns=True,
    )


@dataclass(frozen=True)
class MatchResult:
    """Output of `score_and_cluster`.

    Attributes
    ----------
    scored_pairs
        Candidate pairs at or above the candidate threshold (`SCORED_PAIRS_SCHEMA` plus
        Splink's per-comparison ``mw_*`` match weights).
    clusters
        ``record_id``, ``strong_cluster_id`` (connected at the auto-merge threshold) and
        ``candidate_cluster_id`` (connected at the review threshold), one row per record.
    comparison_counts
        Candidate pairs generated by each blocking rule, before scoring.
    model
        The trained Splink model as a JSON-ready dict (reusable with ``Linker(df, model)``).
    """

    scored_pairs: pl.DataFrame
    clusters: pl.DataFrame
    comparison_counts: pl.DataFrame
    model: dict[str, Any] = field(repr=False)


def _pair_counts(table: Any, rules: list[Any], record_count: int) -> list[dict[str, Any]]:
    # Exact counts on moderate data; a deterministic sample estimate on large bases, where
    # an exact count would cost as much as the prediction it guards.
    return count_comparisons_from_blocking_rules(
        table,
        blocking_rules=rules,
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        record_sample_proportion=1.0 if record_count <= 200_000 else 0.1,
    )


def _count_comparisons(table: Any, record_count: int) -> pl.DataFrame:
    counts = _pair_counts(table, _prediction_rules(), record_count)
    return pl.DataFrame(
        {
            "blocking_rule": list(BLOCKING_RULE_NAMES),
            "new_pairs": [int(c["marginal_comparison_count"]) for c in counts],
            "cumulative_pairs": [int(c["cumulative_comparison_count"]) for c in counts],
        },
        schema={"blocking_rule": pl.String, "new_pairs": pl.Int64, "cumulative_pairs": pl.Int64},
    )


def _train(linker: Linker, table: Any, config: MatchConfig, record_count: int) -> None:
    if config.probability_two_random_records_match is None:
        linker.training.estimate_probability_two_random_records_match(
            [
                "l.email_key = r.email_key and l.first_name = r.first_name",
                "l.phone_key = r.phone_key and l.last_name = r.last_name",
            ],
            recall=0.7,
        )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=config.max_pairs_for_u, seed=config.seed
    )
    # EM needs plain rules (not exploding ones). Each rule trains the comparisons it does not
    # block on: a shared phone trains names, e-mails, company and city; a shared name trains
    # phones and e-mails. Rules that yield too few pairs on this data are skipped.
    for rule in _training_rules():
        pairs = _pair_counts(table, [rule], record_count)[0]["marginal_comparison_count"]
        if pairs < _MIN_TRAINING_PAIRS:
            logger.info("EM rule %s skipped: %s pairs", rule, pairs)
            continue
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=_MAX_TRAINING_PAIRS if pairs > _MAX_TRAINING_PAIRS else None
        )


def score_and_cluster(
    match_input: pl.DataFrame,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
    auto_merge_threshold: float,
    review_threshold: float,
    model: dict[str, Any] | None = None,
) -> MatchResult:
    """Train (or reuse) the model, score candidate pairs and cluster them.

    Parameters
    ----------
    match_input
        Output of `prepare_match_input`.
    db_api
        Splink database API (e.g. ``DuckDBAPI(connection)``) that does the work.
    config
        Matching options.
    auto_merge_threshold, review_threshold
        Match probabilities at which records are connected into strong and candidate
        clusters.
    model
        A previously trained model; when given, training is skipped.

    Raises
    ------
    BlockingExplosionError
        When the blocking rules would generate more than
        ``config.max_comparisons_per_rule`` pairs for one rule.
    """
    require_columns(match_input, MATCH_INPUT_SCHEMA, table="match input")
    record_count = match_input.height
    table = db_api.register(match_input.to_arrow(), table_name="contacts_for_matching")

    comparison_counts = _count_comparisons(table, record_count)
    too_many = comparison_counts.filter(pl.col("new_pairs") > config.max_comparisons_per_rule)
    if too_many.height:
        rule, pairs = too_many.row(0)[:2]
        raise BlockingExplosionError(
            f"blocking rule {rule!r} would generate {pairs:,} pairs "
            f"(limit match.max_comparisons_per_rule = {config.max_comparisons_per_rule:,}); "
            "lower match.max_block_size or raise the limit"
        )

    linker = Linker(table, model if model is not None else build_settings(config), log_level=None)
    if model is None and record_count > 1:
        _train(linker, table, config, record_count)

    predictions = linker.inference.predict(
        threshold_match_probability=config.candidate_threshold, warning_mode="never"
    )
    # Splink 5 reports each comparison's contribution as an ``mw_*`` match-weight column:
    # that is the "why" a reviewer sees for a pair.
    dialect = db_api.sql_dialect
    conflict = name_conflict_sql(dialect.jaro_winkler_function_name, dialect.sql_dialect_str)
    # The conflict test runs once; both the pair export and the auto-merge graph read it.
    flagged = predictions.query_sql(f"select *, {conflict} as names_conflict from {{this}}")
    pair_columns = [
        *SCORED_PAIRS_SCHEMA,
        "names_conflict",
        *(name for name in _column_names(predictions) if name.startswith("mw_")),
    ]
    scored_pairs = _to_polars(flagged, pair_columns).with_columns(
        pl.col("match_key")
        .cast(pl.Int64)
        .replace_strict(dict(enumerate(BLOCKING_RULE_NAMES)), return_dtype=pl.String)
    )

    mergeable = flagged.query_sql("select * from {this} where not names_conflict")
    strong = linker.clustering.cluster_pairwise_predictions_at_threshold(
        mergeable, threshold_match_probability=auto_merge_threshold
    )
    candidate = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=review_threshold
    )
    clusters = _cluster_frame(strong, "strong_cluster_id").join(
        _cluster_frame(candidate, "candidate_cluster_id"), on="record_id", how="inner"
    )
    trained = linker.misc.save_model_to_json()
    return MatchResult(
        scored_pairs=scored_pairs,
        clusters=clusters,
        comparison_counts=comparison_counts,
        model=trained,
    )


def _column_names(frame: Any) -> list[str]:
    return [column.unquote().name for column in frame.columns]


def _to_polars(frame: Any, columns: list[str]) -> pl.DataFrame:
    """Fetch columns of a Splink table as polars (Arrow end to end on DuckDB)."""
    selected = frame.query_sql(f"select {', '.join(columns)} from {{this}}")
    try:
        return pl.from_arrow(selected.as_pyarrow_table())  # type: ignore[return-value]
    finally:
        selected.drop_table_from_database_and_remove_from_cache()


def _cluster_frame(clustered: Any, name: str) -> pl.DataFrame:
    frame = _to_polars(clustered, ["record_id", "cluster_id"])
    return frame.rename({"cluster_id": name})
