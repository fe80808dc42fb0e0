"""Golden client profiles: one row per client cluster, each value traced to its record.

Every rule is a sort order over the candidate values of a cluster; the first value wins.
Ties are broken by source priority, then the most recent update, then the record id, so
a run on the same input always builds the same profile.

Rules compare values by key, not as typed: "Анттон", "Anton" and "Антон" are one value
with three spellings, and the profile shows its best spelling in the profile's script
(`dedup_pipeline.survivorship.spelling`).
"""

from __future__ import annotations

import hashlib

import polars as pl

from dedup_pipeline.config import (
    GOLDEN_LIST_FIELDS,
    GOLDEN_SCALAR_FIELDS,
    SurvivorshipConfig,
    SurvivorshipRule,
    resolve_rule_function,
)
from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA
from dedup_pipeline.schema import require_columns
from dedup_pipeline.survivorship.spelling import (
    NAME_PART_FIELDS,
    NAME_TABLE_FIELDS,
    SPELLING_RULES_VERSION,
    best_spellings,
    joined_names,
    profile_scripts,
    script_of,
    spelling_key,
    tidy_spelling,
    typo_groups,
    well_known_spelling,
)

__all__ = [
    "GOLDEN_PROFILE_SCHEMA",
    "TIE_BREAK",
    "build_golden_profiles",
    "display_value",
    "name_spellings",
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

# Each field's normalised column: spelling keys and completeness are read from it.
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
        SurvivorshipRule.VALID_FIRST: [("known", True), ("tidy", True), ("recency", True)],
        SurvivorshipRule.TRUST: [("trust", True)],
        SurvivorshipRule.CUSTOM: [("custom_choice", True)],
    }
    if rule not in keys:  # pragma: no cover - union is handled by _list_field
        raise ValueError(f"{rule} does not pick a single value")
    return keys[rule]


def _sorted_best_first(frame: pl.DataFrame, keys: list[tuple[str | pl.Expr, bool]]) -> pl.DataFrame:
    return frame.sort(
        [key for key, _ in keys], descending=[desc for _, desc in keys], nulls_last=True
    )


# The key a field's values are voted on by (null: the spelling's own key).
_GROUP_KEY: dict[str, pl.Expr | None] = {
    "first_name": pl.col("first_name_key"),
    "middle_name": pl.col("middle_name_key"),
    "last_name": pl.col("last_name_key"),
    "full_name": None,
    "company": None,
    "city": pl.col("city_key"),
}


def _candidates(ranked: pl.DataFrame, field: str, config: SurvivorshipConfig) -> pl.DataFrame:
    """A field's values per record: spelling, key group, script, how many of the cluster's
    records share its group (``frequency``) and its spelling (``uses``), and what the
    field's rule reads (its own source order, ``trust``, a custom rule's choice)."""
    value = pl.col("value")
    norm = _KEY_COLUMN[field]
    group_key = _GROUP_KEY[field]
    candidates = ranked.select(
        *_RANK_COLUMNS,
        "source",
        display_value(field).alias("value"),
        pl.col(norm).alias("norm"),
        (group_key if group_key is not None else pl.lit(None, dtype=pl.String)).alias("key"),
    ).drop_nulls("value")
    # Keys, script and spelling checks are computed once per distinct spelling.
    spellings = (
        candidates.select("value", "norm")
        .unique()
        .with_columns(own_key=spelling_key(field, pl.col("norm")), script=script_of(value))
        .with_columns(
            known=well_known_spelling(field, pl.col("own_key"), value),
            tidy=tidy_spelling(field, value),
        )
    )
    candidates = candidates.join(
        spellings, on=["value", "norm"], how="left", nulls_equal=True
    ).with_columns(pl.coalesce("key", "own_key", pl.col("value").str.to_lowercase()).alias("key"))
    if field in NAME_PART_FIELDS:
        # Surnames have no reference: every spelling "knows" itself, which proves nothing.
        reference = "known" if field in NAME_TABLE_FIELDS else None
        candidates = typo_groups(candidates, by="cluster_id", key="key", known=reference)
    else:
        candidates = candidates.with_columns(group=pl.col("key"))
    candidates = candidates.with_columns(
        frequency=pl.len().over("cluster_id", "group"), uses=pl.len().over("cluster_id", "value")
    )
    return _rule_inputs(candidates, field, config)


def _rule_inputs(candidates: pl.DataFrame, field: str, config: SurvivorshipConfig) -> pl.DataFrame:
    """Add what the field's rule reads beyond the record's rank columns.

    ``source_rank`` follows the field's own source order when it has one. ``trust`` is the
    source's trust for the field, halved for every ``trust_half_life_days`` between the
    value's update and the client's latest one (per client, so a run on more records does
    not change an untouched client's profile). ``custom_choice`` marks the candidate a
    custom rule's function chose.
    """
    field_rule = config.field_rule(field)
    if field_rule.source_priority is not None:
        order = field_rule.source_priority
        candidates = candidates.with_columns(
            source_rank=pl.col("source")
            .replace_strict(order, list(range(len(order))), default=len(order))
            .cast(pl.Int32)
        )
    if field_rule.rule not in (SurvivorshipRule.TRUST, SurvivorshipRule.CUSTOM):
        return candidates.with_columns(trust=pl.lit(None, dtype=pl.Float64))
    sources = candidates.get_column("source").unique().to_list()
    trust = {source: config.trust_in(source, field) for source in sources}
    latest = pl.col("recency").max().over("cluster_id")
    age_days = (latest - pl.col("recency")).dt.total_seconds() / 86_400
    candidates = candidates.with_columns(
        trust=pl.col("source").replace_strict(
            list(trust), list(trust.values()), default=0.5, return_dtype=pl.Float64
        )
        * pl.lit(0.5).pow(
            age_days.fill_null(age_days.max().over("cluster_id")).fill_null(0.0)
            / config.trust_half_life_days
        )
    )
    if field_rule.rule is SurvivorshipRule.CUSTOM:
        candidates = _custom_choice(candidates, field, field_rule.function or "")
    return candidates


#: What a custom rule's function receives, per candidate value.
CUSTOM_RULE_COLUMNS = (
    "cluster_id",
    "record_id",
    "source",
    "value",
    "key",
    "recency",
    "age",
    "completeness",
    "source_rank",
    "frequency",
    "known",
    "tidy",
    "trust",
)


class CustomRuleError(ValueError):
    """A custom survivorship rule's function answered something else than one chosen
    candidate per client."""


def _custom_choice(candidates: pl.DataFrame, field: str, reference: str) -> pl.DataFrame:
    function = resolve_rule_function(reference)
    offered = candidates.select(CUSTOM_RULE_COLUMNS)
    chosen = function(offered)
    where = f"survivorship.fields.{field}: custom rule {reference!r}"
    if not isinstance(chosen, pl.DataFrame) or not {"cluster_id", "record_id"} <= set(
        chosen.columns
    ):
        raise CustomRuleError(f"{where} must return a DataFrame with cluster_id and record_id")
    chosen = chosen.select("cluster_id", "record_id")
    if chosen.get_column("cluster_id").is_duplicated().any():
        raise CustomRuleError(f"{where} chose more than one value for a client")
    strangers = chosen.join(offered, on=["cluster_id", "record_id"], how="anti")
    if strangers.height:
        row = strangers.row(0, named=True)
        raise CustomRuleError(
            f"{where} chose record {row['record_id']!r}, which holds no {field} of client "
            f"{row['cluster_id']!r}"
        )
    # A client the function left out falls back to the tie-breaks.
    return candidates.join(
        chosen.with_columns(custom_choice=pl.lit(True)), on=["cluster_id", "record_id"], how="left"
    ).with_columns(pl.col("custom_choice").fill_null(False))


def _winners(candidates: pl.DataFrame, rule: SurvivorshipRule) -> pl.DataFrame:
    """Per cluster, the candidate the rule ranks first (its key group wins); on a tie a
    spelling a reference knows beats one it does not ("Christopher" over "Chrris")."""
    return (
        _sorted_best_first(candidates, [*rule_sort_keys(rule), ("known", True), *TIE_BREAK])
        .group_by("cluster_id", maintain_order=True)
        .first()
        .select("cluster_id", "group", source_record_id="record_id")
    )


def _spelled_name(candidates: pl.DataFrame, field: str, rule: SurvivorshipRule) -> pl.DataFrame:
    """The rule's winning name per cluster, in its best spelling for each script."""
    winners = _winners(candidates, rule)
    spellings = best_spellings(
        candidates.join(winners.select("cluster_id", "group"), on=["cluster_id", "group"]),
        [*rule_sort_keys(rule), *TIE_BREAK],
        field=field,
    )
    return winners.select("cluster_id", "source_record_id").join(spellings, on="cluster_id")


def name_spellings(
    contacts: pl.DataFrame, clusters: pl.DataFrame, *, config: SurvivorshipConfig
) -> pl.DataFrame:
    """Each cluster's golden names as they are written in either script.

    What a CRM card whose names are typed in the other script than the profile's receives
    ("Сергей" on a Cyrillic card of a profile written "Sergey").

    Returns
    -------
    polars.DataFrame
        ``cluster_id`` and, per name field, ``<field>_cyrillic`` (null where neither the
        records nor the name tables spell it in Cyrillic) and ``<field>_latin``.
    """
    ranked = record_rank_columns(
        contacts.join(clusters.select("record_id", "cluster_id"), on="record_id", how="inner"),
        config.source_priority,
    )
    spellings = ranked.select("cluster_id").unique()
    for field in NAME_PART_FIELDS:
        spelled = _spelled_name(_candidates(ranked, field, config), field, config.rule_for(field))
        spellings = spellings.join(
            spelled.select(
                "cluster_id",
                pl.col("cyrillic").alias(f"{field}_cyrillic"),
                pl.col("latin").alias(f"{field}_latin"),
            ),
            on="cluster_id",
            how="left",
        )
    return spellings


def _name_scripts(
    candidates: dict[str, pl.DataFrame], names: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """The script of each cluster's name fields: the one most of its names are typed in
    when every name the profile has can be written in it, else Latin."""
    preferred = profile_scripts(
        pl.concat([candidates[field].select("cluster_id", "script") for field in NAME_PART_FIELDS])
    )
    written = pl.concat(
        [names[field].select("cluster_id", "cyrillic", "latin") for field in NAME_PART_FIELDS]
    ).join(preferred, on="cluster_id")
    gaps = (
        written.filter(
            pl.when(pl.col("script") == "cyrillic").then("cyrillic").otherwise("latin").is_null()
        )
        .select("cluster_id")
        .unique()
    )
    return preferred.join(gaps, on="cluster_id", how="anti").vstack(
        gaps.with_columns(script=pl.lit("latin"))
    )


def _written_in_profile_script(
    candidates: pl.DataFrame, scripts: pl.DataFrame, rule: SurvivorshipRule
) -> pl.DataFrame:
    """A company or city: the rule's winning value, in the spelling a reference knows
    ("Санкт-Петербург", not "СПб"), in the profile's script where a record has it."""
    winners = _winners(candidates, rule)
    spellings = candidates.join(winners.select("cluster_id", "group"), on=["cluster_id", "group"])
    spellings = spellings.join(
        scripts.rename({"script": "profile_script"}), on="cluster_id", how="left"
    ).with_columns(in_script=pl.col("script") == pl.col("profile_script"))
    order = [
        ("known", True),
        ("in_script", True),
        ("tidy", True),
        ("uses", True),
        *rule_sort_keys(rule),
        *TIE_BREAK,
    ]
    best = _sorted_best_first(spellings, order).group_by("cluster_id", maintain_order=True).first()
    return winners.select("cluster_id", "source_record_id").join(
        best.select("cluster_id", "value"), on="cluster_id"
    )


def _scalar_fields(ranked: pl.DataFrame, config: SurvivorshipConfig) -> pl.DataFrame:
    """Every scalar golden field and the record it came from, one row per cluster."""
    candidates = {field: _candidates(ranked, field, config) for field in GOLDEN_SCALAR_FIELDS}
    names = {
        field: _spelled_name(candidates[field], field, config.rule_for(field))
        for field in NAME_PART_FIELDS
    }
    scripts = _name_scripts(candidates, names)
    profiles = ranked.select("cluster_id").unique().join(scripts, on="cluster_id", how="left")
    in_script = pl.when(pl.col("script") == "cyrillic").then("cyrillic").otherwise("latin")
    for field in NAME_PART_FIELDS:
        profiles = profiles.join(
            names[field]
            .join(scripts, on="cluster_id", how="left")
            .select(
                "cluster_id",
                in_script.alias(field),
                pl.col("source_record_id").alias(f"{field}_source_record_id"),
            ),
            on="cluster_id",
            how="left",
        )
    profiles = profiles.join(
        _full_names(candidates["full_name"], profiles, config.rule_for("full_name")),
        on="cluster_id",
        how="left",
    )
    for field in ("company", "city"):
        written = _written_in_profile_script(candidates[field], scripts, config.rule_for(field))
        profiles = profiles.join(
            written.select(
                "cluster_id",
                pl.col("value").alias(field),
                pl.col("source_record_id").alias(f"{field}_source_record_id"),
            ),
            on="cluster_id",
            how="left",
        )
    return profiles.drop("script")


def _full_names(
    candidates: pl.DataFrame, names: pl.DataFrame, rule: SurvivorshipRule
) -> pl.DataFrame:
    """The profile's full name: its name fields in the order a record typed them (the
    rule picks among such records), else composed as first, middle and last name.

    A full name typed with other words than the profile's name fields ("Анттон Иванов"
    beside the first name "Антон", or in the other script), or carelessly ("ИВАНОВА
    Оля"), is not shown beside them.
    """

    def words(value: pl.Expr) -> pl.Expr:
        return value.str.to_lowercase().str.split(" ").list.sort()

    parts = names.select(
        "cluster_id",
        composed=joined_names(),
        fallback_source=pl.coalesce(*(f"{field}_source_record_id" for field in NAME_PART_FIELDS)),
    ).with_columns(parts=words(pl.col("composed")))
    typed = candidates.join(parts, on="cluster_id").filter(
        (words(pl.col("value")) == pl.col("parts")) & pl.col("tidy")
    )

    written = (
        _sorted_best_first(typed, [*rule_sort_keys(rule), *TIE_BREAK])
        .group_by("cluster_id", maintain_order=True)
        .first()
    )
    return parts.join(
        written.select("cluster_id", full_name="value", written_by="record_id"),
        on="cluster_id",
        how="left",
    ).select(
        "cluster_id",
        full_name=pl.coalesce("full_name", pl.col("composed").replace("", None)),
        full_name_source_record_id=pl.coalesce("written_by", "fallback_source"),
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
    profiles = profiles.join(_scalar_fields(ranked, config), on="cluster_id", how="left")
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
    rules = hashlib.sha256(
        (SPELLING_RULES_VERSION + config.model_dump_json()).encode("utf-8")
    ).hexdigest()[:16]

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
