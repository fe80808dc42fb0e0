"""The Splink model: settings, training, scoring and clustering.

Only Splink's public API is used here, against a ``DatabaseAPI`` handed in by the caller,
so the same code runs on DuckDB here and on Spark for bases that outgrow one machine.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from splink import Linker, SettingsCreator, block_on
from splink.internals.database_api import DatabaseAPI

from dedup_pipeline.config import ConfigError, MatchConfig
from dedup_pipeline.match.comparisons import contact_comparisons
from dedup_pipeline.match.conflicts import (
    NAME_CONFLICT_SIMILARITY,
    PERSON_COLUMNS,
    name_conflict_sql,
    pair_name_columns,
)
from dedup_pipeline.match.frequencies import PersonFrequencies
from dedup_pipeline.match.hygiene import split_conflicting_clusters
from dedup_pipeline.match.prepare import MATCH_INPUT_SCHEMA, NAME_BLOCKS
from dedup_pipeline.match.scoring import (
    identifier_u_from_scores,
    predict_with_refined_prior,
    to_polars,
)
from dedup_pipeline.match.training import (
    TrainingReport,
    check_trained,
    levels_by_key,
    pair_counts,
    train_model,
)
from dedup_pipeline.schema import require_columns

__all__ = [
    "NAME_CONFLICT_SIMILARITY",
    "SCORED_PAIRS_SCHEMA",
    "BlockingExplosionError",
    "IncompatibleModelError",
    "MatchResult",
    "build_settings",
    "check_model_compatible",
    "cluster_scored_pairs",
    "flag_and_fetch_pairs",
    "name_conflict_sql",
    "names_veto",
    "prediction_rules",
    "score_and_cluster",
    "u_among_non_matches",
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


class BlockingExplosionError(RuntimeError):
    """A blocking rule would generate more candidate pairs than allowed."""


def prediction_rules(config: MatchConfig) -> dict[str, Any]:
    """The blocking rules that generate candidate pairs, by human-readable name."""
    first, *others = NAME_BLOCKS
    rules: dict[str, Any] = {
        "same phone": block_on("phones_block", arrays_to_explode=["phones_block"]),
        "same e-mail": block_on("emails_block", arrays_to_explode=["emails_block"]),
        first.rule: block_on(first.column),
        "first and last name swapped": (
            "l.first_name = r.last_name and l.last_name = r.first_name"
        ),
    }
    for block in others:
        rules[block.rule] = block_on(
            block.column, arrays_to_explode=[block.column] if block.listed else None
        )
    for name, extra in config.extra_fields.items():
        if extra.blocking:
            rules[f"same {name}"] = block_on(f"{name}_block")
    return rules


def sharing_a_blocking_key(
    records: pl.DataFrame, others: pl.DataFrame, config: MatchConfig
) -> pl.DataFrame:
    """The ``records`` that some rule of `prediction_rules` could pair with one of
    ``others``: every candidate pair between the two has its ``records`` end here.

    A nightly run scores its few new records against these rather than the whole base:
    the pairs are the same, found in a fraction of the time. Keep in step with
    `prediction_rules`.
    """
    found = []
    listed = ["phones_block", "emails_block"]
    listed += [block.column for block in NAME_BLOCKS if block.listed]
    for column in listed:
        values = others.select(value=pl.col(column).explode()).drop_nulls().unique()
        found.append(
            records.select("record_id", value=pl.col(column))
            .explode("value")
            .join(values, on="value", how="semi")
            .select("record_id")
        )
    single = [block.column for block in NAME_BLOCKS if not block.listed]
    single += [f"{name}_block" for name, extra in config.extra_fields.items() if extra.blocking]
    for column in single:
        values = others.select(column).drop_nulls().unique()
        found.append(records.join(values, on=column, how="semi").select("record_id"))
    swapped = others.select(first_name="last_name", last_name="first_name").drop_nulls().unique()
    found.append(
        records.join(swapped, on=["first_name", "last_name"], how="semi").select("record_id")
    )
    return records.join(pl.concat(found).unique(), on="record_id", how="semi")


def build_settings(config: MatchConfig) -> SettingsCreator:
    """Return the Splink settings of the contact model."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=config.probability_two_random_records_match or 1e-4,
        blocking_rules_to_generate_predictions=list(prediction_rules(config).values()),
        comparisons=contact_comparisons(config),
        # The guard against conflicting names reads these beside the compared names.
        additional_columns_to_retain=[
            "source",
            "first_name_listed",
            "first_initials",
            "middle_initial",
            "name_gender",
        ],
        retain_intermediate_calculation_columns=True,
        # The guard against conflicting names reads the compared names of each pair.
        retain_matching_columns=True,
    )


class IncompatibleModelError(ConfigError):
    """A saved model does not compare what the configuration compares."""


def check_model_compatible(
    model: dict[str, Any], config: MatchConfig, *, source: str = "the reused model"
) -> None:
    """Check that a saved model scores the pairs `build_settings` would score.

    The model must compare the same columns (its comparisons' output column names) and
    generate candidate pairs with the same blocking rules as a model trained now.

    Parameters
    ----------
    model
        A Splink model as saved by a run (``splink_model.json``).
    config
        The matching options of the current run.
    source
        Where the model came from, for the error message.

    Raises
    ------
    IncompatibleModelError
        When the model differs; the message says to retrain.
    """
    retrain = "; retrain: remove match.model (or the --model option) to train on this run's data"
    expected = build_settings(config).create_settings_dict("duckdb")
    if (
        model.get("link_type") != expected["link_type"]
        or model.get("unique_id_column_name") != expected["unique_id_column_name"]
    ):
        raise IncompatibleModelError(f"{source}: not a model of lead-dedup contacts{retrain}")
    ours = [c["output_column_name"] for c in expected["comparisons"]]
    theirs = [c.get("output_column_name") for c in model.get("comparisons", [])]
    if theirs != ours:
        raise IncompatibleModelError(
            f"{source}: the model compares {', '.join(map(str, theirs))} but this configuration "
            f"compares {', '.join(ours)} (match.extra_fields changed?){retrain}"
        )
    rules = [r["blocking_rule"] for r in expected["blocking_rules_to_generate_predictions"]]
    model_rules = [
        r.get("blocking_rule") if isinstance(r, dict) else r
        for r in model.get("blocking_rules_to_generate_predictions", [])
    ]
    if model_rules != rules:
        raise IncompatibleModelError(
            f"{source}: the model generates candidate pairs with other blocking rules than "
            f"this configuration (match.extra_fields blocking changed?){retrain}"
        )
    check_trained(model, source=source)


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
    labelled_pairs_used
        Reviewer-approved record pairs the m probabilities were also estimated from; 0 when
        labels were not used (option off, too few, or a reused model).
    training
        How the model was trained (None for a reused model).
    """

    scored_pairs: pl.DataFrame
    clusters: pl.DataFrame
    comparison_counts: pl.DataFrame
    model: dict[str, Any] = field(repr=False)
    labelled_pairs_used: int = 0
    training: TrainingReport | None = None


def _count_comparisons(table: Any, config: MatchConfig, record_count: int) -> pl.DataFrame:
    rules = prediction_rules(config)
    counts = pair_counts(table, list(rules.values()), record_count)
    return pl.DataFrame(
        {
            "blocking_rule": list(rules),
            "new_pairs": [int(c["marginal_comparison_count"]) for c in counts],
            "cumulative_pairs": [int(c["cumulative_comparison_count"]) for c in counts],
        },
        schema={"blocking_rule": pl.String, "new_pairs": pl.Int64, "cumulative_pairs": pl.Int64},
    )


#: Names of one client that disagree in more matches than this are too unreliable for a
#: conflict of names to keep records apart (``match.name_conflicts: auto``).
NAME_VETO_MAX_DISAGREEMENT = 0.05


def names_veto(config: MatchConfig, model: dict[str, Any]) -> bool:
    """Whether names of different people keep a pair apart, whatever else it shares.

    ``match.name_conflicts`` decides; ``auto`` reads the model: the share of matches whose
    names disagree (m of the name comparison's last level). In CRM data one client's names
    agree up to typos and diminutives (about 1% disagree); where names are corrupted on
    purpose (FEBRL, fake_1000: 11-14%) a disagreement is no proof of two people.
    """
    if config.name_conflicts != "auto":
        return config.name_conflicts == "keep_apart"
    for comparison in model.get("comparisons", []):
        if comparison.get("output_column_name") == "first_name_last_name":
            other = comparison["comparison_levels"][-1].get("m_probability")
            return other is None or other <= NAME_VETO_MAX_DISAGREEMENT
    return True


def _with_u(model: dict[str, Any], u: dict[str, float]) -> dict[str, Any]:
    """``model`` with the u of levels keyed ``comparison: label`` replaced (in place)."""
    for key, level in levels_by_key(model).items():
        if key in u:
            level["u_probability"] = u[key]
    return model


#: Scorings of the identifier pairs per prior; each after the first moves u little.
_U_SCORINGS = 3


def u_among_non_matches(model: dict[str, Any]) -> dict[str, Any]:
    """Remove the true matches' share from u probabilities estimated on random pairs.

    Splink estimates u from random pairs, which include true matches at the rate
    ``λ = probability_two_random_records_match``. On a base with many duplicates (a few
    thousand records of which half are duplicated) those matches dominate the random pairs
    that share a personal phone, and the phone's weight comes out several bits too low.
    As u is the level's frequency among non-matches: ``u' = (u - λ m) / (1 - λ)``, kept
    at or above a tenth of the estimate so that no level becomes certain.
    """
    adjusted = copy.deepcopy(model)
    rate = adjusted["probability_two_random_records_match"]
    for comparison in adjusted["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None or u is None:
                continue
            level["u_probability"] = max((u - rate * m) / (1 - rate), u / 10)
    return adjusted


def score_and_cluster(
    match_input: pl.DataFrame,
    *,
    db_api: DatabaseAPI,
    config: MatchConfig,
    auto_merge_threshold: float,
    review_threshold: float,
    model: dict[str, Any] | None = None,
    labelled_pairs: pl.DataFrame | None = None,
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
    labelled_pairs
        Reviewers' labelled pairs (``record_id_l``, ``record_id_r``, ``clerical_match_score``).
        With ``config.learn_from_decisions``, training also estimates m probabilities from
        the matching ones among `match_input`'s records, if there are at least
        ``config.min_learning_pairs``; ignored when `model` is given.

    Raises
    ------
    BlockingExplosionError
        When the blocking rules would generate more than
        ``config.max_comparisons_per_rule`` pairs for one rule.
    IncompatibleModelError
        When `model` does not compare what `config` compares.
    """
    if model is not None:
        check_model_compatible(model, config)
    require_columns(match_input, [*MATCH_INPUT_SCHEMA, *config.extra_fields], table="match input")
    record_count = match_input.height
    table = db_api.register(match_input.to_arrow(), table_name="contacts_for_matching")

    comparison_counts = _count_comparisons(table, config, record_count)
    too_many = comparison_counts.filter(pl.col("new_pairs") > config.max_comparisons_per_rule)
    if too_many.height:
        rule, pairs = too_many.row(0)[:2]
        raise BlockingExplosionError(
            f"blocking rule {rule!r} would generate {pairs:,} pairs "
            f"(limit match.max_comparisons_per_rule = {config.max_comparisons_per_rule:,}); "
            "lower match.max_block_size or raise the limit"
        )

    if model is not None and config.learn_from_decisions and labelled_pairs is not None:
        logger.info("a reused model is not trained: reviewers' decisions are not learnt from")

    settings = build_settings(config).create_settings_dict(db_api.sql_dialect.sql_dialect_str)
    frequencies = PersonFrequencies(db_api, match_input, model or settings)

    def make_linker(scoring: dict[str, Any]) -> Linker:
        return frequencies.apply(Linker(table, scoring, log_level=None))

    # u of identifier levels among the non-matches the model finds (set while scoring).
    scored_u: dict[str, float] = {}

    def to_scoring(raw: dict[str, Any]) -> dict[str, Any]:
        # The default model's u are already those of non-matches (of its own base).
        if training is not None and training.source == "default":
            return copy.deepcopy(raw)
        return _with_u(u_among_non_matches(raw), scored_u)

    def identifier_pairs_only(scoring: dict[str, Any]) -> dict[str, Any]:
        rules = prediction_rules(config)
        dialect = db_api.sql_dialect.sql_dialect_str
        return {
            **scoring,
            "blocking_rules_to_generate_predictions": [
                rules[name].create_blocking_rule_dict(dialect)
                for name in ("same phone", "same e-mail")
            ],
        }

    # Every pair that shares a phone or an e-mail, scored once, re-scored for each prior.
    identifier_scores: Any = None

    def settle_u() -> None:
        nonlocal identifier_scores
        if raw_model is None or training is None or not training.identifier_pairs:
            return
        if identifier_scores is None:
            first = make_linker(identifier_pairs_only(to_scoring(raw_model)))
            identifier_scores = first.inference.predict(warning_mode="never")
        for _ in range(_U_SCORINGS):
            scoring = to_scoring(raw_model)
            found = identifier_u_from_scores(
                identifier_scores,
                make_linker(identifier_pairs_only(scoring)),
                raw_model,
                scoring,
                training.identifier_pairs,
            )
            moved = any(
                key not in scored_u or abs(math.log2(u / scored_u[key])) > 0.1
                for key, u in found.items()
            )
            scored_u.update(found)
            if not moved:
                return

    linker = make_linker(model if model is not None else settings)

    raw_model: dict[str, Any] | None = None
    training: TrainingReport | None = None
    if model is None and record_count > 1:
        # Labels join before the model is saved: the u correction (which reads m) and the
        # prior refinement below see them.
        raw_model, training = train_model(
            linker, table, match_input, config, labelled_pairs=labelled_pairs
        )
        linker = make_linker(to_scoring(raw_model))

    candidate_bits = math.log2(config.candidate_threshold / (1 - config.candidate_threshold))
    if raw_model is not None and config.probability_two_random_records_match is None:
        try:
            linker, predictions = predict_with_refined_prior(
                make_linker,
                to_scoring,
                raw_model,
                record_count=record_count,
                candidate_bits=candidate_bits,
                settle_u=settle_u,
            )
        finally:
            if identifier_scores is not None:
                identifier_scores.drop_table_from_database_and_remove_from_cache()
    else:
        predictions = linker.inference.predict(
            threshold_match_weight=candidate_bits, warning_mode="never"
        )
    trained = linker.misc.save_model_to_json()
    keep_apart = names_veto(config, trained)
    flagged, scored_pairs = flag_and_fetch_pairs(
        predictions, db_api=db_api, config=config, keep_apart=keep_apart
    )

    clusters = cluster_scored_pairs(
        flagged,
        scored_pairs,
        linker=linker,
        table=table,
        config=config,
        auto_merge_threshold=auto_merge_threshold,
        review_threshold=review_threshold,
    )
    if training is not None:
        training.names_veto = keep_apart
    return MatchResult(
        scored_pairs=scored_pairs,
        clusters=clusters,
        comparison_counts=comparison_counts,
        model=trained,
        labelled_pairs_used=0 if training is None else training.labelled_pairs_used,
        training=training,
    )


def cluster_scored_pairs(
    flagged: Any,
    scored_pairs: pl.DataFrame,
    *,
    linker: Linker,
    table: Any,
    config: MatchConfig,
    auto_merge_threshold: float,
    review_threshold: float,
) -> pl.DataFrame:
    """Connect records into strong and candidate clusters, names permitting.

    Parameters
    ----------
    flagged
        Scored pairs with ``names_conflict`` in the database (`flag_and_fetch_pairs`).
    scored_pairs
        The same pairs as polars.
    linker
        The linker over `table`.
    table
        Every record, prepared for matching (a ``SplinkDataFrame``).
    config
        Matching options (``name_conflicts``, person identifiers).
    auto_merge_threshold, review_threshold
        Match probabilities at which pairs connect strong and candidate clusters.

    Returns
    -------
    polars.DataFrame
        ``record_id``, ``strong_cluster_id`` and ``candidate_cluster_id`` per record.
    """
    db_api = table.db_api
    keep_apart = names_veto(config, linker.misc.save_model_to_json())
    mergeable = (
        flagged.query_sql("select * from {this} where not names_conflict")
        if keep_apart
        else flagged
    )
    strong = linker.clustering.cluster_pairwise_predictions_at_threshold(
        mergeable, threshold_match_probability=auto_merge_threshold
    )
    # Names of different people are a confident "no": such pairs are not proposed to
    # reviewers either, whatever else the two records share.
    candidate = linker.clustering.cluster_pairwise_predictions_at_threshold(
        mergeable, threshold_match_probability=review_threshold
    )
    strong_clusters = _cluster_frame(strong, "cluster_id")
    if keep_apart:
        strong_clusters = split_conflicting_clusters(
            strong_clusters,
            scored_pairs.filter(
                ~pl.col("names_conflict") & (pl.col("match_probability") >= auto_merge_threshold)
            ),
            _cannot_link_within(
                strong_clusters,
                table,
                db_api,
                _conflict_sql(db_api, config),
                config.person_identifiers,
            ),
        )
    clusters = strong_clusters.rename({"cluster_id": "strong_cluster_id"}).join(
        _cluster_frame(candidate, "candidate_cluster_id"), on="record_id", how="inner"
    )
    return clusters


def _conflict_sql(db_api: DatabaseAPI, config: MatchConfig) -> str:
    dialect = db_api.sql_dialect
    return name_conflict_sql(
        dialect.jaro_winkler_function_name,
        dialect.sql_dialect_str,
        overridden_by=config.person_identifiers,
    )


def flag_and_fetch_pairs(
    predictions: Any, *, db_api: DatabaseAPI, config: MatchConfig, keep_apart: bool
) -> tuple[Any, pl.DataFrame]:
    """Flag name conflicts on Splink's predictions and fetch them as scored pairs.

    Parameters
    ----------
    predictions
        Splink's scored pairs (a ``SplinkDataFrame``).
    db_api
        The database API that holds them.
    config
        Matching options (blocking rules, person identifiers).
    keep_apart
        Whether names of different people keep a pair apart (`names_veto`). Without it no
        pair is flagged: every stage after this one reads ``names_conflict`` as "never
        merged automatically".

    Returns
    -------
    tuple
        The predictions with a ``names_conflict`` column (still in the database, for
        clustering) and the same pairs as polars: `SCORED_PAIRS_SCHEMA`, ``names_conflict``
        and one ``mw_*`` match weight per comparison (the "why" a reviewer sees), with the
        blocking rule's name as ``match_key``.
    """
    conflict = _conflict_sql(db_api, config) if keep_apart else "false"
    # The conflict test runs once; both the pair export and the auto-merge graph read it.
    flagged = predictions.query_sql(f"select *, {conflict} as names_conflict from {{this}}")
    pair_columns = [
        *SCORED_PAIRS_SCHEMA,
        "names_conflict",
        *(name for name in _column_names(predictions) if name.startswith("mw_")),
    ]
    scored_pairs = to_polars(flagged, pair_columns).with_columns(
        pl.col("match_key")
        .cast(pl.Int64)
        .replace_strict(dict(enumerate(prediction_rules(config))), return_dtype=pl.String)
    )
    return flagged, scored_pairs


#: Clusters larger than this are not checked pair by pair; the decision stage never
#: auto-merges them anyway (``decision.max_cluster_size``).
_MAX_CHECKED_CLUSTER = 1_000


def _cannot_link_within(
    clusters: pl.DataFrame,
    table: Any,
    db_api: DatabaseAPI,
    conflict: str,
    identifiers: list[str],
) -> pl.DataFrame:
    """Pairs inside one cluster whose names belong to different people."""
    sizes = clusters.group_by("cluster_id").len()
    checked = sizes.filter(pl.col("len").is_between(3, _MAX_CHECKED_CLUSTER))
    members = clusters.join(checked.select("cluster_id"), on="cluster_id", how="semi")
    empty = pl.DataFrame(schema={"record_id_l": pl.String, "record_id_r": pl.String})
    if members.is_empty():
        return empty
    registered = db_api.register(members.to_arrow(), table_name="__strong_cluster_members")
    ids = "".join(f", c.{name}" for name in identifiers)
    person = ", ".join(f"c.{name}" for name in PERSON_COLUMNS)
    named = (
        f"select m.cluster_id, c.record_id, {person}{ids} "
        f"from {{this}} m join {table.physical_name} c on m.record_id = c.record_id "
        "where c.first_name is not null or c.last_name is not null or c.name_gender is not null"
    )
    pairs = registered.query_sql(
        f"""
        with named as ({named})
        select record_id_l, record_id_r from (
            select l.record_id as record_id_l, r.record_id as record_id_r,
                   {pair_name_columns(identifiers)}
            from named l join named r
              on l.cluster_id = r.cluster_id and l.record_id < r.record_id
        ) where {conflict}
        """
    )
    try:
        return pl.concat([empty, to_polars(pairs, ["record_id_l", "record_id_r"])])
    finally:
        pairs.drop_table_from_database_and_remove_from_cache()
        registered.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)


def _column_names(frame: Any) -> list[str]:
    return [column.unquote().name for column in frame.columns]


def _cluster_frame(clustered: Any, name: str) -> pl.DataFrame:
    frame = to_polars(clustered, ["record_id", "cluster_id"])
    return frame.rename({"cluster_id": name})
