"""Golden client profiles: one row per client cluster, each value traced to its record.

Every rule is a sort order over the candidate values of a cluster; the first value wins.
Ties are broken by source priority, then the most recent update, then the record id, so
a run on the same input always builds the same profile.
"""

from __future__ import annotations

import hashlib

import polars as pl

from dedup_pipeline.config import (
    GOLDEN_LIST_FIELDS,
    GOLDEN_SCALAR_FIELDS,
    SurvivorshipConfig,
    SurvivorshipRule,
)
from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA
from dedup_pipeline.schema import require_columns

__all__ = [
    "GOLDEN_PROFILE_SCHEMA",
    "TIE_BREAK",
    "build_golden_profiles",
    "display_value",
    "profile_versions",
    "record_rank_columns",
    "rule_sort_keys",
    "update_golden_profiles",
]

_LIST = pl.List(pl.String())

#: One row per client cluster.
GOLDEN_PROFILE_SCHEMA: dict[str, pl.DataType] = {
    "cluster_id": pl.String(),
    "outcome": pl.String(),
    "record_count": pl.UInt32(),
    "record_ids": _LIST,
    "sources": _LIST,
    **{
        name: dtype
        for field in GOLDEN_SCALAR_FIELDS
        for name, dtype in ((field, pl.String()), (f"{field}_source_record_id", pl.String()))
    },
    **{
        name: _LIST
        for field in GOLDEN_LIST_FIELDS
        for name in (field, f"{field}_source_record_ids")
    },
    "first_seen_at": pl.Datetime("us"),
    "last_updated_at": pl.Datetime("us"),
    "profile_version": pl.String(),
}

#: Contact columns a profile is built from: a change in any of them rebuilds the profile.
_PROFILE_INPUTS = (
    "record_id",
    "source",
    *GOLDEN_SCALAR_FIELDS,
    *(f"{field}_norm" for field in GOLDEN_SCALAR_FIELDS),
    "phones_e164",
    "emails_normalized",
    "created_at",
    "updated_at",
)

# Which normalised column decides "the same value" for most_frequent.
_KEY_COLUMN = {
    "first_name": "first_name_norm",
    "middle_name": "middle_name_norm",
    "last_name": "last_name_norm",
    "full_name": "full_name_norm",
    "company": "company_norm",
    "city": "city_norm",
}
_NAME_FIELDS = ("first_name", "middle_name", "last_name", "full_name")
# What every rule may sort on, per candidate value (see `record_rank_columns`).
_RANK_COLUMNS = ("cluster_id", "record_id", "source_rank", "recency", "age", "completeness")


def display_value(field: str) -> pl.Expr:
    """The value shown on the golden profile.

    Names typed in one case ("ИВАНОВ", "иванов") are title-cased; carefully typed ones
    ("McDonald") are kept. Names only present inside a full name come from its split.
    """
    key = pl.col(_KEY_COLUMN[field])
    if field not in _NAME_FIELDS:
        return pl.when(key.is_not_null()).then(pl.col(field).str.strip_chars())
    raw = pl.col(field).str.strip_chars()
    single_case = (raw == raw.str.to_uppercase()) | (raw == raw.str.to_lowercase())
    return (
        pl.when(key.is_null())
        .then(None)
        .when(raw.is_null() | single_case)
        .then(key.str.to_titlecase())
        .otherwise(raw)
    )


def record_rank_columns(contacts: pl.DataFrame, source_priority: list[str]) -> pl.DataFrame:
    """Add the per-record sort keys every rule uses.

    ``source_rank`` (lower is more trusted; unlisted sources last), ``recency`` (update time,
    falling back to creation), ``age`` (creation time) and ``completeness`` (how many
    contact fields the record fills).
    """
    ranks = pl.DataFrame(
        {"source": source_priority, "source_rank": list(range(len(source_priority)))},
        schema={"source": pl.String, "source_rank": pl.Int32},
    )
    filled = [pl.col(f"{field}_norm").is_not_null().cast(pl.Int32) for field in _KEY_COLUMN]
    filled += [
        (pl.col("phones_e164").list.len() > 0).cast(pl.Int32),
        (pl.col("emails_normalized").list.len() > 0).cast(pl.Int32),
    ]
    return contacts.join(ranks, on="source", how="left").with_columns(
        pl.col("source_rank").fill_null(len(source_priority)),
        recency=pl.coalesce("updated_at", "created_at"),
        age=pl.col("created_at"),
        completeness=pl.sum_horizontal(filled),
    )


#: Ties under every rule: most trusted source, then the latest update, then record id.
TIE_BREAK: tuple[tuple[str, bool], ...] = (
    ("source_rank", False),
    ("recency", True),
    ("record_id", False),
)


def rule_sort_keys(
    rule: SurvivorshipRule, *, length: pl.Expr | None = None
) -> list[tuple[str | pl.Expr, bool]]:
    """The sort keys (column, descending) by which ``rule`` ranks candidates, best first.

    ``length`` is the size a ``longest`` rule compares (characters of ``value`` unless
    given, e.g. the number of phones in a list).
    """
    keys: dict[SurvivorshipRule, list[tuple[str | pl.Expr, bool]]] = {
        SurvivorshipRule.SOURCE_PRIORITY: [],
        SurvivorshipRule.MOST_RECENT: [("recency", True)],
        SurvivorshipRule.OLDEST: [("age", False)],
        SurvivorshipRule.MOST_COMPLETE: [("completeness", True)],
        SurvivorshipRule.MOST_FREQUENT: [("frequency", True)],
        SurvivorshipRule.LONGEST: [
            (length if length is not None else pl.col("value").str.len_chars(), True)
        ],
    }
    if rule not in keys:  # pragma: no cover - union is handled by _list_field
        raise ValueError(f"{rule} does not pick a single value")
    return keys[rule]


def _sorted_best_first(frame: pl.DataFrame, keys: list[tuple[str | pl.Expr, bool]]) -> pl.DataFrame:
    return frame.sort(
        [key for key, _ in keys], descending=[desc for _, desc in keys], nulls_last=True
    )


def _scalar_field(ranked: pl.DataFrame, field: str, rule: SurvivorshipRule) -> pl.DataFrame:
    candidates = (
        ranked.select(
            *_RANK_COLUMNS,
            display_value(field).alias("value"),
            pl.col(_KEY_COLUMN[field]).alias("key"),
        )
        .drop_nulls("value")
        .with_columns(frequency=pl.len().over("cluster_id", "key"))
    )
    return (
        _sorted_best_first(candidates, [*rule_sort_keys(rule), *TIE_BREAK])
        .group_by("cluster_id", maintain_order=True)
        .first()
        .select(
            "cluster_id",
            pl.col("value").alias(field),
            pl.col("record_id").alias(f"{field}_source_record_id"),
        )
    )


def _list_field(ranked: pl.DataFrame, field: str, rule: SurvivorshipRule) -> pl.DataFrame:
    column = {"phones": "phones_e164", "emails": "emails_normalized"}[field]
    exploded = (
        ranked.select(*_RANK_COLUMNS, pl.col(column).alias("value"))
        .explode("value")
        .drop_nulls("value")
    )
    if rule is SurvivorshipRule.UNION:
        # Every distinct value, most trusted first; each traced to the record it came from.
        ordered = _sorted_best_first(exploded, list(TIE_BREAK))
        values = ordered.unique(["cluster_id", "value"], keep="first", maintain_order=True)
        return values.group_by("cluster_id", maintain_order=True).agg(
            pl.col("value").alias(field),
            pl.col("record_id").alias(f"{field}_source_record_ids"),
        )
    # A single-value rule on a list field keeps the whole list of the winning record.
    per_record = (
        exploded.group_by(*_RANK_COLUMNS, maintain_order=True)
        .agg(pl.col("value"))
        .with_columns(frequency=pl.lit(1))
    )
    keys = [*rule_sort_keys(rule, length=pl.col("value").list.len()), *TIE_BREAK]
    winners = (
        _sorted_best_first(per_record, keys).group_by("cluster_id", maintain_order=True).first()
    )
    return winners.select(
        "cluster_id",
        pl.col("value").alias(field),
        pl.col("record_id")
        .repeat_by(pl.col("value").list.len())
        .alias(f"{field}_source_record_ids"),
    )


def build_golden_profiles(
    contacts: pl.DataFrame, clusters: pl.DataFrame, *, config: SurvivorshipConfig
) -> pl.DataFrame:
    """Build one golden profile per client cluster.

    Parameters
    ----------
    contacts
        Normalised contacts (`CONTACT_SCHEMA`).
    clusters
        ``record_id``, ``cluster_id`` and ``outcome`` per record (`CLUSTER_SCHEMA`).
    config
        The per-field rules and the source priority.

    Returns
    -------
    polars.DataFrame
        `GOLDEN_PROFILE_SCHEMA`: for each field the chosen value and the record that
        supplied it (a list of records for union fields).
    """
    require_columns(contacts, CONTACT_SCHEMA, table="contacts")
    require_columns(clusters, ["record_id", "cluster_id", "outcome"], table="clusters")
    ranked = record_rank_columns(
        contacts.join(clusters.select("record_id", "cluster_id"), on="record_id", how="inner"),
        config.source_priority,
    )
    profiles = (
        clusters.sort("record_id")
        .join(contacts.select("record_id", "source", "created_at", "updated_at"), on="record_id")
        .group_by("cluster_id")
        .agg(
            outcome=pl.col("outcome").first(),
            record_count=pl.len().cast(pl.UInt32),
            record_ids=pl.col("record_id").sort(),
            sources=pl.col("source").unique().sort(),
            first_seen_at=pl.col("created_at").min(),
            last_updated_at=pl.coalesce("updated_at", "created_at").max(),
        )
    )
    for field in GOLDEN_SCALAR_FIELDS:
        profiles = profiles.join(
            _scalar_field(ranked, field, config.rule_for(field)), on="cluster_id", how="left"
        )
    for field in GOLDEN_LIST_FIELDS:
        profiles = profiles.join(
            _list_field(ranked, field, config.rule_for(field)), on="cluster_id", how="left"
        ).with_columns(
            pl.col(field).fill_null(pl.lit([], dtype=_LIST)),
            pl.col(f"{field}_source_record_ids").fill_null(pl.lit([], dtype=_LIST)),
        )
    return (
        profiles.join(profile_versions(contacts, clusters, config=config), on="cluster_id")
        .select(list(GOLDEN_PROFILE_SCHEMA))
        .sort("cluster_id")
    )


#: Seed of the row hashes in profile versions (any fixed value; changing it rebuilds all).
_VERSION_SEED = 20261123


def profile_versions(
    contacts: pl.DataFrame, clusters: pl.DataFrame, *, config: SurvivorshipConfig
) -> pl.DataFrame:
    """A hash of everything a cluster's golden profile is built from, per cluster.

    The members' contact values and timestamps, the cluster's outcome and the survivorship
    rules: equal versions build equal profiles, so a nightly run copies an unchanged
    profile instead of rebuilding it. Members are hashed with polars, whose hashes are
    stable within a polars version: after an upgrade every profile is rebuilt once.

    Returns
    -------
    polars.DataFrame
        ``cluster_id`` and ``profile_version`` (``<rules>-<members>``: 16 hex digits of
        the rules' SHA-256, then the members' hash).
    """
    rules = hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()[:16]
    members = clusters.select("record_id", "cluster_id", "outcome").join(
        contacts.select(list(_PROFILE_INPUTS)), on="record_id"
    )
    return (
        members.select(
            "cluster_id",
            "record_id",
            member=pl.struct(pl.exclude("cluster_id")).hash(seed=_VERSION_SEED),
        )
        # Members in record order, so the hash does not depend on row order.
        .sort("cluster_id", "record_id")
        .group_by("cluster_id", maintain_order=True)
        .agg("member")
        .select(
            "cluster_id",
            profile_version=pl.format(
                "{}-{}", pl.lit(rules), pl.col("member").hash(seed=_VERSION_SEED)
            ),
        )
    )


def update_golden_profiles(
    previous: pl.DataFrame,
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    *,
    config: SurvivorshipConfig,
) -> tuple[pl.DataFrame, int]:
    """Last run's golden profiles, rebuilt only where their inputs changed.

    Parameters
    ----------
    previous
        The last run's profiles (`GOLDEN_PROFILE_SCHEMA`, keyed by stable client id).
    contacts, clusters, config
        As for `build_golden_profiles`.

    Returns
    -------
    tuple
        The profiles (equal to `build_golden_profiles` on the same input) and how many
        were rebuilt.
    """
    require_columns(previous, ["cluster_id", "profile_version"], table="previous profiles")
    versions = profile_versions(contacts, clusters, config=config)
    unchanged = versions.join(
        previous.select("cluster_id", "profile_version"), on=["cluster_id", "profile_version"]
    ).select("cluster_id")
    touched = clusters.join(unchanged, on="cluster_id", how="anti")
    rebuilt = build_golden_profiles(
        contacts.join(touched.select("record_id"), on="record_id", how="semi"),
        touched,
        config=config,
    )
    kept = previous.join(unchanged, on="cluster_id", how="semi").select(list(GOLDEN_PROFILE_SCHEMA))
    profiles = pl.concat([kept.cast(GOLDEN_PROFILE_SCHEMA), rebuilt]).sort("cluster_id")  # type: ignore[arg-type]
    return profiles, rebuilt.height
