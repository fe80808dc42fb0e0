"""Training the contact model so that every level is trained, at any size of base.

Splink estimates u by sampling random pairs and m by EM over blocked pairs. Both leave
levels untrained where the data has too few examples, and an untrained level silently
weighs nothing: at a million records a fixed sample of random pairs no longer holds a
single pair sharing a phone, so "a personal phone in common", the strongest evidence of
all, went unweighed. Here:

- **u of identifier levels follows from the values' frequencies**, over every pair and
  without sampling (`identifier_u`): how many pairs of records share a personal phone, or
  only a shared one, out of all pairs of records with a phone; scoring then takes the
  matches the model finds among those pairs out of them (`u_among_scored_non_matches`);
- a level **still unseen by sampling** gets the rule-of-three bound ``3 / pairs sampled``:
  it is at most that common, so it weighs at least what the sample can vouch for;
- **m is kept off 0**: no level takes less than `M_FLOOR` of the matches (EM on a base
  where a field never differs would otherwise make one difference a veto), nor less than
  its u when that is smaller (the floor never turns a rare level into evidence);
- a level **EM never saw** takes its m from the default model (`default_model`), trained
  on the benchmark generator; a base too small to train on uses the default model whole
  (cold start). The run says which;
- a model with a level still untrained is **refused** (`UntrainedLevelError`), naming it.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import polars as pl
from splink import Linker, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match.comparisons import FEW_LABEL, PERSONAL_LABEL, SHARED_LABEL
from dedup_pipeline.schema import require_columns

__all__ = [
    "COLD_START_RECORDS",
    "MAX_U_FALL",
    "M_FLOOR",
    "TrainingReport",
    "UntrainedLevelError",
    "check_trained",
    "default_model",
    "identifier_u",
    "levels_by_key",
    "pair_counts",
    "train_model",
    "u_among_scored_non_matches",
    "untrained_levels",
    "with_counted_u",
    "with_floored_m",
]

logger = logging.getLogger(__name__)

#: No level's m falls below this share of true matches.
M_FLOOR = 0.01
#: Bases smaller than this are matched with the default model (cold start).
COLD_START_RECORDS = 500
_MIN_TRAINING_PAIRS = 50
_MAX_TRAINING_PAIRS = 500_000
_DEFAULT_MODEL = "default_model.json"


class UntrainedLevelError(RuntimeError):
    """A model level has no m or u probability: scoring with it would ignore the level."""


@dataclass
class TrainingReport:
    """How the model of a run was obtained.

    Attributes
    ----------
    source
        ``trained`` (on this run's data) or ``default`` (the shipped default model, for a
        base too small to train on).
    reason
        Why the default model was used, when it was.
    u_from_frequencies
        Levels whose u was counted over all pairs rather than sampled.
    u_bounded
        Levels no sampled pair fell in, given the rule-of-three bound.
    m_from_default
        Levels EM never saw, whose m came from the default model.
    m_floored
        Levels whose m was raised to `M_FLOOR`.
    identifier_pairs
        Per counted identifier level (``comparison: label``), the pairs of records in the
        base that fall in it, matches and non-matches alike.
    labelled_pairs_used
        Reviewer-approved pairs the m probabilities were also estimated from.
    names_veto
        Whether names of different people keep pairs apart in this run
        (`dedup_pipeline.match.model.names_veto`).
    """

    source: str = "trained"
    reason: str | None = None
    u_from_frequencies: list[str] = field(default_factory=list)
    u_bounded: list[str] = field(default_factory=list)
    m_from_default: list[str] = field(default_factory=list)
    m_floored: list[str] = field(default_factory=list)
    identifier_pairs: dict[str, float] = field(default_factory=dict)
    labelled_pairs_used: int = 0
    names_veto: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return dict(self.__dict__)


def pair_counts(table: Any, rules: list[Any], record_count: int) -> list[dict[str, Any]]:
    """Candidate pairs per blocking rule: exact on moderate data, sampled on large bases."""
    with warnings.catch_warnings():
        # Splink warns when a sampled estimate rests on few pairs; a rare rule is rare.
        warnings.simplefilter("ignore", UserWarning)
        return count_comparisons_from_blocking_rules(
            table,
            blocking_rules=rules,
            link_type="dedupe_only",
            unique_id_column_name="record_id",
            record_sample_proportion=1.0 if record_count <= 200_000 else 0.1,
        )


def _levels(model: dict[str, Any]):
    """(comparison name, level label, level dict) of every level that is not null."""
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            label = level.get("label_for_charts") or level.get("sql_condition", "")
            yield comparison["output_column_name"], label, level


def levels_by_key(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every level of ``model`` that is not null, keyed ``comparison: label`` as reports
    name them."""
    return {f"{name}: {label}": level for name, label, level in _levels(model)}


def untrained_levels(model: dict[str, Any]) -> list[str]:
    """``comparison: level`` of every non-null level without an m or a u probability."""
    return [
        f"{name}: {label}"
        for name, label, level in _levels(model)
        if level.get("m_probability") is None or level.get("u_probability") is None
    ]


def check_trained(model: dict[str, Any], *, source: str = "the model") -> None:
    """Refuse a model with an untrained level.

    Raises
    ------
    UntrainedLevelError
        Naming each untrained level.
    """
    missing = untrained_levels(model)
    if missing:
        raise UntrainedLevelError(
            f"{source} has untrained levels, which would weigh nothing: {'; '.join(missing)}. "
            "Train on more data, give match.model, or keep match.default_model on 'auto'"
        )


@cache
def _default_model_text() -> str:
    return resources.files(__package__).joinpath(_DEFAULT_MODEL).read_text(encoding="utf-8")


def default_model() -> dict[str, Any]:
    """The shipped default model (see ``docs/default_model.md`` for its provenance)."""
    return json.loads(_default_model_text())


def identifier_u(match_input: pl.DataFrame, column: str) -> dict[str, float]:
    """u of "a personal value in common" and "only a shared value in common", counted.

    Parameters
    ----------
    match_input
        The match input, with ``column`` (every value), ``<column>_personal`` and
        ``<column>_few``.
    column
        ``phones`` or ``emails``.

    Returns
    -------
    dict
        The share of all pairs of records holding a value that share a personal value,
        a shared value a few records hold, and a common shared value, keyed by the levels'
        labels. True matches are among these pairs;
        `dedup_pipeline.match.model.u_among_non_matches` takes them out.
    """
    pairs, total = _identifier_pairs(match_input, column)
    return {label: count / total for label, count in pairs.items()}


def _identifier_pairs(match_input: pl.DataFrame, column: str) -> tuple[dict[str, float], float]:
    """Pairs of records in each identifier level of ``column`` (at least one, see
    `identifier_u`), and all pairs of records holding a value."""
    require_columns(
        match_input,
        ["record_id", column, f"{column}_personal", f"{column}_few"],
        table="match input",
    )
    holding = match_input.filter(pl.col(column).is_not_null()).height
    total = holding * (holding - 1) / 2
    if total <= 0:
        return {}, total
    personal = (
        match_input.select("record_id", value=pl.col(f"{column}_personal"))
        .explode("value")
        .drop_nulls()
        .unique()
    )
    # Distinct pairs: a couple sharing two mobiles counts once.
    personal_pairs = (
        personal.join(personal, on="value", suffix="_r")
        .filter(pl.col("record_id") < pl.col("record_id_r"))
        .select("record_id", "record_id_r")
        .unique()
        .height
    )
    every = match_input.select("record_id", value=pl.col(column)).explode("value").drop_nulls()
    few = match_input.select(value=pl.col(f"{column}_few")).explode("value").drop_nulls().unique()
    shared_values = every.join(personal.select("value").unique(), on="value", how="anti")
    holders = (
        shared_values.unique()
        .group_by("value")
        .len()
        .with_columns(pairs=pl.col("len").cast(pl.Float64) * (pl.col("len") - 1) / 2)
        .with_columns(few=pl.col("value").is_in(few["value"].implode()))
    )
    few_pairs = float(holders.filter("few")["pairs"].sum())
    common_pairs = float(holders.filter(~pl.col("few"))["pairs"].sum())
    noun = "phone" if column == "phones" else "e-mail"
    counts = {
        PERSONAL_LABEL.format(noun=noun): max(float(personal_pairs), 1.0),
        FEW_LABEL.format(noun=noun): max(few_pairs, 1.0),
        # A switchboard is never stronger evidence than a family phone, even in a base
        # that has none yet (a nightly run or a lead check may meet one).
        SHARED_LABEL.format(noun=noun): max(common_pairs, few_pairs, 1.0),
    }
    return counts, total


def with_counted_u(
    model: dict[str, Any], match_input: pl.DataFrame, sampled_pairs: float, report: TrainingReport
) -> dict[str, Any]:
    """Set the identifier levels' u from frequencies and bound the u no sample saw.

    Changes ``model`` in place and returns it; the levels changed go into ``report``.
    """
    pairs: dict[str, float] = {}
    counted: dict[str, float] = {}
    for column in ("phones", "emails"):
        in_levels, total = _identifier_pairs(match_input, column)
        pairs |= in_levels
        counted |= {label: count / total for label, count in in_levels.items()}
    bound = min(1.0, 3.0 / max(sampled_pairs, 1.0))
    for name, label, level in _levels(model):
        if label in counted:
            level["u_probability"] = counted[label]
            report.u_from_frequencies.append(f"{name}: {label}")
            report.identifier_pairs[f"{name}: {label}"] = pairs[label]
        elif level.get("u_probability") is None:
            level["u_probability"] = bound
            report.u_bounded.append(f"{name}: {label}")
    return model


#: The most a counted identifier level's u may fall by once the matches among its pairs
#: are taken out (2^10): no level becomes certain, whatever the model believes.
MAX_U_FALL = 1024.0


def u_among_scored_non_matches(
    model: dict[str, Any], identifier_pairs: dict[str, float], expected: dict[str, float]
) -> dict[str, float]:
    """u of each counted identifier level among non-matches, from the model's own scores.

    A level's counted u (`identifier_u`) is the share of all pairs of records that fall in
    it, true matches included; in a large base nearly every pair sharing a personal phone
    is one client, and the non-matches among them fall with the base's size faster than
    a correction from the prior can follow. Here the pairs the model expects to be matches
    (the sum of their match probabilities) are taken out of the level's pairs; pairs
    scored too low to be fetched count wholly as non-matches, so the estimate errs on the
    side of a weaker level.

    Parameters
    ----------
    model
        The model with counted u (`with_counted_u`).
    identifier_pairs
        Pairs of records per level, ``comparison: label`` (`TrainingReport.identifier_pairs`).
    expected
        The sum of match probabilities of the scored pairs in each level, same keys.

    Returns
    -------
    dict
        ``comparison: label`` -> u, at least the counted u over `MAX_U_FALL`.
    """
    found = {}
    for name, label, level in _levels(model):
        key = f"{name}: {label}"
        pairs = identifier_pairs.get(key, 0.0)
        if pairs <= 0 or level.get("u_probability") is None:
            continue
        non_matches = max(pairs - expected.get(key, 0.0), pairs / MAX_U_FALL, 1.0)
        found[key] = level["u_probability"] * min(non_matches / pairs, 1.0)
    return found


def with_floored_m(
    model: dict[str, Any], fallback: dict[str, Any] | None, report: TrainingReport
) -> dict[str, Any]:
    """Fill untrained m from ``fallback``, then keep every m at or above `M_FLOOR`.

    The m of the levels EM measured sum to one again after the floor; a level filled from
    ``fallback`` keeps the fallback's m outside that sum. It weighs what the default model
    says should a later record fall in it, and takes no share from the measured levels:
    on a base without written companies, "same company" (0.4 in the default model) would
    otherwise cut every measured company level's m by 40% and shift each pair with a
    corporate mail domain by 0.7 bits.

    Changes ``model`` in place and returns it; the levels changed go into ``report``.
    """
    known = {}
    if fallback is not None:
        known = {(name, label): level for name, label, level in _levels(fallback)}
    for comparison in model["comparisons"]:
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        name = comparison["output_column_name"]
        measured = [level for level in levels if level.get("m_probability") is not None]
        for level in levels:
            label = level.get("label_for_charts") or level.get("sql_condition", "")
            if level.get("m_probability") is None:
                other = known.get((name, label))
                if other is not None and other.get("m_probability") is not None:
                    level["m_probability"] = other["m_probability"]
                    report.m_from_default.append(f"{name}: {label}")
        if any(level.get("m_probability") is None for level in levels):
            continue
        for level in measured:
            # The floor caps how strongly a level counts against a match; it never makes
            # a rare level count for one (m is raised no higher than its u).
            floor = min(M_FLOOR, level.get("u_probability") or M_FLOOR)
            if level["m_probability"] < floor:
                level["m_probability"] = floor
                label = level.get("label_for_charts") or level.get("sql_condition", "")
                report.m_floored.append(f"{name}: {label}")
        total = sum(level["m_probability"] for level in measured)
        for level in measured:
            level["m_probability"] /= total
    return model


def _training_rules(config: MatchConfig) -> list[Any]:
    extra = [block_on(name) for name, field in config.extra_fields.items() if field.blocking]
    return [
        block_on("phone_key"),
        block_on("email_key"),
        block_on("first_name", "last_name"),
        *extra,
    ]


def _estimate_prior(linker: Linker, table: Any, config: MatchConfig, record_count: int) -> None:
    # Pairs these rules accept are near-certain matches; their count sets the prior.
    deterministic = [
        "l.email_key = r.email_key and l.first_name = r.first_name",
        "l.phone_key = r.phone_key and l.last_name = r.last_name",
        *(
            f"l.{name} = r.{name} and l.first_name = r.first_name and l.last_name = r.last_name"
            for name, extra in config.extra_fields.items()
            if extra.blocking
        ),
    ]
    counts = pair_counts(table, deterministic, record_count)
    if counts and counts[-1]["cumulative_comparison_count"] > 0:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    else:
        # Nothing to estimate from: keep the settings' default prior.
        logger.warning("no certain matches to estimate the prior from; using the default")


def _reviewed_matches(labelled_pairs: pl.DataFrame, record_ids: pl.Series) -> pl.DataFrame:
    """Pairs reviewers called a match whose records are both in this run, lower id left."""
    require_columns(
        labelled_pairs,
        ["record_id_l", "record_id_r", "clerical_match_score"],
        table="labelled pairs",
    )
    present = record_ids.implode()
    return (
        labelled_pairs.filter(
            (pl.col("clerical_match_score") == 1)
            & pl.col("record_id_l").is_in(present)
            & pl.col("record_id_r").is_in(present)
        )
        .select(
            pl.min_horizontal("record_id_l", "record_id_r").alias("record_id_l"),
            pl.max_horizontal("record_id_l", "record_id_r").alias("record_id_r"),
        )
        .unique(maintain_order=True)
    )


def _learn_from_reviewed_matches(
    linker: Linker, table: Any, reviewed: pl.DataFrame, minimum: int
) -> int:
    """Add an m estimate from reviewed matches to each level's trained values.

    Splink sets each level's m to the median of all its estimates (the EM sessions' and
    this one), so labels move the model without outvoting EM; levels no reviewed pair
    falls in keep EM's values. Returns the number of pairs used.
    """
    if reviewed.height < minimum:
        logger.warning(
            "%d reviewed matching pairs among this run's records, fewer than "
            "match.min_learning_pairs = %d: the model is trained without them",
            reviewed.height,
            minimum,
        )
        return 0
    # Splink reads the pair from ``<unique id>_l``/``_r`` (``record_id_l``/``record_id_r``)
    # and treats every row as a match whatever its clerical_match_score: only matches go in.
    labels = table.db_api.register(reviewed.to_arrow(), table_name="__reviewed_matches")
    try:
        linker.training.estimate_m_from_pairwise_labels(labels)
    finally:
        labels.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
    logger.info("m probabilities also estimated from %d reviewed matching pairs", reviewed.height)
    return reviewed.height


def _cold_start_reason(config: MatchConfig, record_count: int, trainable_rules: int) -> str | None:
    if config.default_model == "never" or config.extra_fields:
        return None
    if config.default_model == "always":
        return "match.default_model is 'always'"
    if record_count < COLD_START_RECORDS:
        return f"{record_count} records, fewer than {COLD_START_RECORDS} to train on"
    if trainable_rules == 0:
        return "no training rule yields enough pairs for EM"
    return None


def _from_default(linker: Linker) -> dict[str, Any]:
    """The default model's m and u on this run's settings, with this run's prior."""
    trained = linker.misc.save_model_to_json()
    reference = {(name, label): level for name, label, level in _levels(default_model())}
    for name, label, level in _levels(trained):
        other = reference.get((name, label))
        if other is not None:
            level["m_probability"] = other.get("m_probability")
            level["u_probability"] = other.get("u_probability")
    return trained


def train_model(
    linker: Linker,
    table: Any,
    match_input: pl.DataFrame,
    config: MatchConfig,
    *,
    labelled_pairs: pl.DataFrame | None = None,
) -> tuple[dict[str, Any], TrainingReport]:
    """Estimate the prior, u and m of the contact model; return it and how it was made.

    Parameters
    ----------
    linker
        A linker over ``table`` with the untrained settings (`build_settings`).
    table
        The match input registered with the linker's database.
    match_input
        The same records as polars, for counting identifier frequencies.
    config
        Matching options.
    labelled_pairs
        Reviewers' labelled pairs, for ``match.learn_from_decisions``.

    Raises
    ------
    UntrainedLevelError
        When a level stays untrained after everything above.
    """
    report = TrainingReport()
    record_count = match_input.height
    if config.probability_two_random_records_match is None:
        _estimate_prior(linker, table, config, record_count)
    rules = []
    for rule in _training_rules(config):
        pairs = pair_counts(table, [rule], record_count)[0]["marginal_comparison_count"]
        if pairs < _MIN_TRAINING_PAIRS:
            logger.info("EM rule %s skipped: %s pairs", rule, pairs)
        else:
            rules.append((rule, pairs))
    reason = _cold_start_reason(config, record_count, len(rules))
    if reason is not None:
        logger.warning("matching with the default model: %s", reason)
        trained = _from_default(linker)
        report.source, report.reason = "default", reason
        if config.learn_from_decisions and labelled_pairs is not None:
            # Reviewers' matches move the default's m as they would a trained model's.
            linker = Linker(table, trained, log_level=None)
            reviewed = _reviewed_matches(labelled_pairs, match_input.get_column("record_id"))
            report.labelled_pairs_used = _learn_from_reviewed_matches(
                linker, table, reviewed, config.min_learning_pairs
            )
            trained = with_floored_m(linker.misc.save_model_to_json(), None, report)
        check_trained(trained, source="the default model")
        return trained, report

    linker.training.estimate_u_using_random_sampling(
        max_pairs=config.max_pairs_for_u, seed=config.seed
    )
    sampled = min(float(config.max_pairs_for_u), record_count * (record_count - 1) / 2)
    with_u = with_counted_u(linker.misc.save_model_to_json(), match_input, sampled, report)
    # EM weighs pairs with the u it is given: train m on the counted u.
    linker = Linker(table, with_u, log_level=None)
    # EM needs plain rules (not exploding ones). Each rule trains the comparisons it does
    # not block on: a shared phone trains names, e-mails, company and city; a shared name
    # trains phones and e-mails.
    for rule, pairs in rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=_MAX_TRAINING_PAIRS if pairs > _MAX_TRAINING_PAIRS else None
        )
    if config.learn_from_decisions and labelled_pairs is not None:
        reviewed = _reviewed_matches(labelled_pairs, match_input.get_column("record_id"))
        report.labelled_pairs_used = _learn_from_reviewed_matches(
            linker, table, reviewed, config.min_learning_pairs
        )
    # The default model knows the built-in comparisons; extra fields must train on the data.
    fallback = None if config.default_model == "never" else default_model()
    trained = with_floored_m(copy.deepcopy(linker.misc.save_model_to_json()), fallback, report)
    for kind, levels in (
        ("u counted over all pairs", report.u_from_frequencies),
        ("u bounded (no sampled pair)", report.u_bounded),
        ("m from the default model (not seen by EM)", report.m_from_default),
        (f"m raised to {M_FLOOR}", report.m_floored),
    ):
        if levels:
            logger.info("%s: %s", kind, "; ".join(levels))
    check_trained(trained, source="the model trained on this run's data")
    return trained, report
