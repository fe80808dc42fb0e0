"""Merge instructions: what each CRM must do so that it holds one card per client.

A CRM can only merge its own records, so instructions are per (client cluster, source):
in each CRM that holds records of an auto-merged cluster, the survivor record absorbs the
others of that CRM and receives the golden values it lacks (enrichment from the other
sources). Sources that are feeds rather than CRMs (``merge_target: false``) get none.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from dedup_pipeline.config import (
    GOLDEN_LIST_FIELDS,
    GOLDEN_SCALAR_FIELDS,
    SurvivorshipConfig,
)
from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA
from dedup_pipeline.normalize.nicknames import first_name_variants
from dedup_pipeline.normalize.text import normalize_name
from dedup_pipeline.review.decide import Outcome
from dedup_pipeline.schema import require_columns
from dedup_pipeline.survivorship.golden import (
    display_value,
    name_spellings,
    record_rank_columns,
    rule_sort_keys,
)
from dedup_pipeline.survivorship.spelling import (
    NAME_PART_FIELDS,
    NAME_TABLE_FIELDS,
    is_typo_of,
    joined_names,
    script_of,
    tidy_spelling,
    value_keys,
    well_known_spelling,
)

__all__ = [
    "INSTRUCTION_KEY_SCHEMA",
    "MERGE_INSTRUCTION_SCHEMA",
    "MergeInstruction",
    "RecordRef",
    "build_merge_instructions",
    "instruction_keys",
    "instructions_to_jsonl",
    "merge_instruction_json_schema",
    "stored_keys",
    "update_merge_instructions",
]

_LIST = pl.List(pl.String())
_SET_FIELDS = pl.Struct(
    {
        **{field: pl.String() for field in GOLDEN_SCALAR_FIELDS},
        **{field: _LIST for field in GOLDEN_LIST_FIELDS},
    }
)

#: The warehouse/Parquet shape of merge instructions (JSONL nests it, see `MergeInstruction`).
MERGE_INSTRUCTION_SCHEMA: dict[str, pl.DataType] = {
    "instruction_id": pl.String(),
    "cluster_id": pl.String(),
    "source": pl.String(),
    "action": pl.String(),
    "survivor_record_id": pl.String(),
    "merged_record_ids": _LIST,
    "set_fields": _SET_FIELDS,
    "confidence": pl.Float64(),
    "outcome": pl.String(),
    "cluster_record_ids": _LIST,
}


class RecordRef(BaseModel):
    """A record in a source system."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Source name from the configuration, e.g. 'bitrix24'.")
    source_record_id: str = Field(description="The record's id in that source.")


class MergeInstruction(BaseModel):
    """One instruction for one CRM: merge ``merged`` into ``survivor``, then set fields.

    This model is the documented format of ``merge_instructions.jsonl``; its JSON Schema
    is in ``docs/merge_instruction.schema.json``.
    """

    model_config = ConfigDict(extra="forbid", title="MergeInstruction")

    instruction_id: str = Field(description="'<cluster_id>/<source>'; stable for the same input.")
    cluster_id: str = Field(description="The client cluster (golden profile) this serves.")
    source: str = Field(description="The CRM the instruction applies to.")
    action: Literal["merge", "update"] = Field(
        description="'merge': merge the records into the survivor, then set fields; "
        "'update': only set fields on the survivor (it is the cluster's one record there)."
    )
    survivor: RecordRef
    merged: list[RecordRef] = Field(
        description="Records of the same CRM to merge into the survivor (empty for 'update')."
    )
    set_fields: dict[str, str | list[str]] = Field(
        description="Golden values the survivor lacks or holds differently. Phones (E.164) "
        "and e-mails are complete lists to store on the survivor."
    )
    confidence: float | None = Field(
        description="Weakest tie of the cluster: every record is matched to another with at "
        "least this probability."
    )
    outcome: Literal["auto_merge", "approved"] = Field(
        description="Why the merge is allowed: automatic, or approved by a reviewer."
    )
    cluster_records: list[str] = Field(
        description="All records of the client across sources, as '<source>:<id>'."
    )


def _survivor_order(config: SurvivorshipConfig) -> tuple[list[Any], list[bool]]:
    # Within one CRM the oldest card usually carries the history, so it wins ties.
    keys = [("source_rank", False), *rule_sort_keys(config.survivor), ("age", False)]
    keys.append(("record_id", False))
    return [key for key, _ in keys], [desc for _, desc in keys]


def build_merge_instructions(
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    golden_profiles: pl.DataFrame,
    *,
    config: SurvivorshipConfig,
    merge_targets: Collection[str],
    preferred_survivors: Collection[str] = (),
) -> pl.DataFrame:
    """Build merge instructions for every auto-merged or approved cluster.

    Parameters
    ----------
    contacts
        Normalised contacts (`CONTACT_SCHEMA`).
    clusters
        Client clusters with outcome and confidence (`CLUSTER_SCHEMA`).
    golden_profiles
        Output of `build_golden_profiles`.
    config
        Survivorship options; ``config.survivor`` picks the survivor within each CRM.
    merge_targets
        Sources that accept merge instructions.
    preferred_survivors
        Record ids a reviewer chose as survivors; in its CRM such a record survives
        whatever ``config.survivor`` says.

    Returns
    -------
    polars.DataFrame
        `MERGE_INSTRUCTION_SCHEMA`, one row per (cluster, CRM) that needs a change.
    """
    require_columns(contacts, CONTACT_SCHEMA, table="contacts")
    merged_clusters = clusters.filter(
        pl.col("outcome").is_in([Outcome.AUTO_MERGE, Outcome.APPROVED])
    )
    members = record_rank_columns(
        contacts.join(
            merged_clusters.select("record_id", "cluster_id", "confidence", "outcome"),
            on="record_id",
        ),
        config.source_priority,
    ).with_columns(
        *[display_value(field).alias(f"current_{field}") for field in GOLDEN_SCALAR_FIELDS],
        current_phones=pl.col("phones_e164"),
        current_emails=pl.col("emails_normalized"),
    )
    cluster_records = members.group_by("cluster_id").agg(
        cluster_record_ids=pl.col("record_id").sort()
    )
    by, descending = _survivor_order(config)
    by, descending = ["preferred", *by], [True, *descending]
    in_targets = members.filter(pl.col("source").is_in(list(merge_targets))).with_columns(
        preferred=pl.col("record_id").is_in(list(preferred_survivors))
    )
    ordered = in_targets.sort(by, descending=descending, nulls_last=True)
    per_source = ordered.group_by("cluster_id", "source", maintain_order=True).agg(
        pl.all().first(),
        merged_record_ids=pl.col("source_record_id").slice(1),
    )
    golden = golden_profiles.select(
        "cluster_id",
        *[
            pl.col(field).alias(f"golden_{field}")
            for field in (*GOLDEN_SCALAR_FIELDS, *GOLDEN_LIST_FIELDS)
        ],
    )
    cards = _in_card_script(
        per_source.join(golden, on="cluster_id"),
        name_spellings(contacts, merged_clusters, config=config),
    )
    per_source = _scalar_changes(cards)
    changes = [
        pl.when(pl.col(f"write_{field}")).then(pl.col(f"golden_{field}")).alias(field)
        for field in GOLDEN_SCALAR_FIELDS
    ]
    for field in GOLDEN_LIST_FIELDS:
        golden_value, current = pl.col(f"golden_{field}"), pl.col(f"current_{field}")
        lacking = golden_value.list.set_difference(current).list.len() > 0
        changes.append(pl.when(lacking).then(golden_value).alias(field))
    with_changes = per_source.with_columns(set_fields=pl.struct(changes))
    any_change = pl.any_horizontal(
        [
            pl.col("set_fields").struct.field(field).is_not_null()
            for field in _SET_FIELDS.to_schema()
        ]
    )
    return (
        with_changes.join(cluster_records, on="cluster_id")
        .with_columns(
            instruction_id=pl.concat_str("cluster_id", "source", separator="/"),
            action=pl.when(pl.col("merged_record_ids").list.len() > 0)
            .then(pl.lit("merge"))
            .otherwise(pl.lit("update")),
            survivor_record_id=pl.col("source_record_id"),
        )
        .filter((pl.col("action") == "merge") | any_change)
        .select(list(MERGE_INSTRUCTION_SCHEMA))
        .sort("instruction_id")
    )


_NAME_FIELDS = (*NAME_PART_FIELDS, "full_name")


def _in_card_script(cards: pl.DataFrame, spellings: pl.DataFrame) -> pl.DataFrame:
    """Golden names respelt in the script of each card's names ("Сергей" for a profile's
    "Sergey" on a card that says "Иванов"), so a write never mixes scripts on a card.

    A card without names, or in the profile's script, gets the profile's names; a name
    with no spelling in the card's script is not written.
    """
    parts = [pl.col(f"current_{field}") for field in NAME_PART_FIELDS]
    cyrillic = pl.sum_horizontal((script_of(part) == "cyrillic").fill_null(False) for part in parts)
    latin = pl.sum_horizontal((script_of(part) == "latin").fill_null(False) for part in parts)
    cards = cards.join(spellings, on="cluster_id", how="left").with_columns(
        card_script=pl.when(cyrillic + latin == 0)
        .then(None)
        .when(latin > cyrillic)
        .then(pl.lit("latin"))
        .otherwise(pl.lit("cyrillic")),
        profile_script=script_of(joined_names("golden_")),
    )
    as_profile = pl.col("card_script").is_null() | (
        pl.col("card_script") == pl.col("profile_script")
    )
    respelt = cards.with_columns(
        pl.when(as_profile)
        .then(pl.col(f"golden_{field}"))
        .when(pl.col("card_script") == "cyrillic")
        .then(pl.col(f"{field}_cyrillic"))
        .otherwise(pl.col(f"{field}_latin"))
        .alias(f"golden_{field}")
        for field in NAME_PART_FIELDS
    )
    return respelt.with_columns(
        golden_full_name=pl.when(as_profile)
        .then(pl.col("golden_full_name"))
        .otherwise(joined_names("golden_").replace("", None))
    )


def _short_form_of(
    cards: pl.DataFrame, field: str, golden_key: pl.Series, current_key: pl.Series
) -> pl.Expr:
    """Whether the golden first name is a short form of the card's ("Кирюша" of
    "Кирилл"): a diminutive never replaces the full name a card holds."""
    if field != "first_name":
        return pl.lit(False)
    variants = first_name_variants(
        cards.select(normalize_name(pl.col("golden_first_name"))).to_series()
    )
    return pl.lit(variants).list.contains(pl.lit(current_key)).fill_null(False) & pl.lit(
        golden_key
    ).ne_missing(pl.lit(current_key))


def _scalar_changes(cards: pl.DataFrame) -> pl.DataFrame:
    """Add ``write_<field>``: whether the golden value of each scalar field is written on
    the survivor card.

    A card's value is never replaced by a shorter one ("Санкт-Петербург" stays whatever
    the profile says), except a typo the name tables can tell ("Анттон" -> "Антон").
    Another spelling of the value the card holds (the same key) is written only when it
    is better: known where the card's is not ("СПб"), or tidier ("москва"). Names move
    together: when one of the card's names changes, the others take the profile's
    spelling too, so a card never ends up with "Anton" beside "Иванов".
    """
    columns = []
    for field in GOLDEN_SCALAR_FIELDS:
        golden, current = pl.col(f"golden_{field}"), pl.col(f"current_{field}")
        golden_key = value_keys(cards.get_column(f"golden_{field}"), field)
        current_key = value_keys(cards.get_column(f"current_{field}"), field)
        golden_known = well_known_spelling(field, pl.lit(golden_key), golden)
        current_known = well_known_spelling(field, pl.lit(current_key), current)
        # Only names the tables list, and only Cyrillic ones: Latin names have too many
        # romanisations ("Yelena") for a name the tables miss to count as a typo.
        typo_fixed = (
            (
                pl.lit(is_typo_of(cards, f"current_{field}", f"golden_{field}"))
                & golden_known
                & ~current_known
                & (script_of(current) == "cyrillic")
            )
            if field in NAME_TABLE_FIELDS
            else pl.lit(False)
        )
        not_shorter = ~(golden.str.len_chars() < current.str.len_chars()).fill_null(False)
        better = (golden_known & ~current_known) | (
            tidy_spelling(field, golden) & ~tidy_spelling(field, current)
        )
        other_value = ~pl.lit(golden_key).eq_missing(pl.lit(current_key)) | current.is_null()
        respell = (
            golden.is_not_null()
            & current.ne_missing(golden)
            & (not_shorter | typo_fixed)
            & ~_short_form_of(cards, field, golden_key, current_key)
            # The same value is not rewritten in another script ("СПб" stays Cyrillic).
            & (other_value | (script_of(golden) == script_of(current)))
        )
        columns += [
            respell.alias(f"respell_{field}"),
            (respell & (other_value | better.fill_null(False))).alias(f"write_{field}"),
        ]
    decided = cards.with_columns(columns)
    names_change = pl.any_horizontal(f"write_{field}" for field in _NAME_FIELDS)
    return decided.with_columns(
        (pl.col(f"write_{field}") | (pl.col(f"respell_{field}") & names_change)).alias(
            f"write_{field}"
        )
        for field in _NAME_FIELDS
    )


def _json_member(name: str, value: pl.Expr) -> pl.Expr:
    """``"name":<value as JSON>`` built by polars' JSON encoder (escaping included)."""
    encoded = pl.struct(value.alias(name)).struct.json_encode()
    return encoded.str.slice(1, encoded.str.len_chars() - 2)


def instructions_to_jsonl(instructions: pl.DataFrame) -> pl.Series:
    """Render the instruction table as JSON lines shaped like `MergeInstruction`.

    Unchanged fields (nulls in ``set_fields``) are left out rather than written as null,
    which a CRM admin could read as "clear this field".
    """
    merged = (
        instructions.select("instruction_id", "source", "merged_record_ids")
        .explode("merged_record_ids")
        .drop_nulls("merged_record_ids")
        .group_by("instruction_id")
        .agg(
            merged_json=pl.struct(
                "source", pl.col("merged_record_ids").alias("source_record_id")
            ).struct.json_encode()
        )
    )
    set_fields = pl.concat_str(
        [
            pl.when(pl.col("set_fields").struct.field(field).is_not_null()).then(
                _json_member(field, pl.col("set_fields").struct.field(field))
            )
            for field in _SET_FIELDS.to_schema()
        ],
        separator=",",
        ignore_nulls=True,
    )
    members = [
        _json_member("instruction_id", pl.col("instruction_id")),
        _json_member("cluster_id", pl.col("cluster_id")),
        _json_member("source", pl.col("source")),
        _json_member("action", pl.col("action")),
        _json_member(
            "survivor",
            pl.struct("source", pl.col("survivor_record_id").alias("source_record_id")),
        ),
        pl.concat_str(
            pl.lit('"merged":['), pl.col("merged_json").list.join(",").fill_null(""), pl.lit("]")
        ),
        pl.concat_str(pl.lit('"set_fields":{'), set_fields.fill_null(""), pl.lit("}")),
        _json_member("confidence", pl.col("confidence")),
        _json_member("outcome", pl.col("outcome")),
        _json_member("cluster_records", pl.col("cluster_record_ids")),
    ]
    return (
        instructions.join(merged, on="instruction_id", how="left", maintain_order="left")
        .select(
            pl.concat_str(pl.lit("{"), pl.concat_str(members, separator=","), pl.lit("}")).alias(
                "line"
            )
        )
        .get_column("line")
    )


def merge_instruction_json_schema() -> str:
    """Return the JSON Schema of one merge instruction (one JSONL line)."""
    return json.dumps(MergeInstruction.model_json_schema(), indent=2, ensure_ascii=False) + "\n"


#: Per merged cluster, what its instructions are built from (`instruction_keys`), and a
#: fingerprint of the instruction table they were stored with.
INSTRUCTION_KEY_SCHEMA: dict[str, pl.DataType] = {
    "cluster_id": pl.String(),
    "instruction_key": pl.String(),
    "instructions_fingerprint": pl.UInt64(),
}


def _fingerprint(instructions: pl.DataFrame) -> int:
    """A hash of a whole instruction table, order aside."""
    hashes = instructions.select(list(MERGE_INSTRUCTION_SCHEMA)).hash_rows(seed=11).sort()
    return int(hashes.implode().hash(seed=11).item())


def instruction_keys(
    clusters: pl.DataFrame,
    golden_profiles: pl.DataFrame,
    *,
    merge_targets: Collection[str],
    preferred_survivors: Collection[str] = (),
) -> pl.DataFrame:
    """A key per merged cluster that changes whenever its instructions may.

    The golden profile's version covers the members' values and timestamps, the outcome
    and the survivorship rules; the key adds the cluster's confidence, the merge targets
    and the survivors reviewers chose in it.

    Returns
    -------
    polars.DataFrame
        ``cluster_id`` and ``instruction_key``, one row per auto-merged or approved
        cluster; `stored_keys` adds the fingerprint of the instructions they go with.
    """
    require_columns(golden_profiles, ["cluster_id", "profile_version"], table="golden profiles")
    merged = clusters.filter(pl.col("outcome").is_in([Outcome.AUTO_MERGE, Outcome.APPROVED]))
    chosen = (
        merged.filter(pl.col("record_id").is_in(list(preferred_survivors)))
        .group_by("cluster_id")
        .agg(chosen=pl.col("record_id").sort().str.join(","))
    )
    targets = ",".join(sorted(merge_targets))
    return (
        merged.group_by("cluster_id")
        .agg(pl.col("confidence").first())
        .join(golden_profiles.select("cluster_id", "profile_version"), on="cluster_id")
        .join(chosen, on="cluster_id", how="left")
        .select(
            "cluster_id",
            instruction_key=pl.format(
                "{}|{}|{}|{}",
                "profile_version",
                pl.col("confidence").cast(pl.String).fill_null(""),
                pl.lit(targets),
                pl.col("chosen").fill_null(""),
            ),
        )
    )


def stored_keys(keys: pl.DataFrame, instructions: pl.DataFrame) -> pl.DataFrame:
    """`instruction_keys` to store with ``instructions`` (`INSTRUCTION_KEY_SCHEMA`).

    The fingerprint lets the next run tell that the keys and the instruction table come
    from the same run (a run that stopped between writing one and the other does not
    leave instructions copied under keys they were not built with).
    """
    return keys.with_columns(
        instructions_fingerprint=pl.lit(_fingerprint(instructions), dtype=pl.UInt64)
    ).select(list(INSTRUCTION_KEY_SCHEMA))


def update_merge_instructions(
    previous: pl.DataFrame | None,
    previous_keys: pl.DataFrame | None,
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    golden_profiles: pl.DataFrame,
    *,
    config: SurvivorshipConfig,
    merge_targets: Collection[str],
    preferred_survivors: Collection[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Last run's merge instructions, built again only for clusters whose key changed.

    Parameters
    ----------
    previous, previous_keys
        The last run's instructions (`MERGE_INSTRUCTION_SCHEMA`) and its `stored_keys`.
        Without them, or with keys stored with other instructions, everything is built.
    contacts, clusters, golden_profiles, config, merge_targets, preferred_survivors
        As for `build_merge_instructions`.

    Returns
    -------
    tuple
        The instructions (equal to `build_merge_instructions` on the same input), this
        run's `stored_keys`, and how many clusters were built again.
    """
    if previous is None or previous_keys is None:
        previous = pl.DataFrame(schema=MERGE_INSTRUCTION_SCHEMA)
        previous_keys = pl.DataFrame(schema=INSTRUCTION_KEY_SCHEMA)
    require_columns(previous_keys, INSTRUCTION_KEY_SCHEMA, table="stored instruction keys")
    if previous_keys.height and previous_keys["instructions_fingerprint"][0] != _fingerprint(
        previous
    ):
        previous_keys = previous_keys.clear()
    keys = instruction_keys(
        clusters,
        golden_profiles,
        merge_targets=merge_targets,
        preferred_survivors=preferred_survivors,
    )
    unchanged = keys.join(
        previous_keys.select("cluster_id", "instruction_key"),
        on=["cluster_id", "instruction_key"],
        how="semi",
    ).select("cluster_id")
    touched = keys.join(unchanged, on="cluster_id", how="anti").select("cluster_id")
    members = clusters.join(touched, on="cluster_id", how="semi")
    fresh = build_merge_instructions(
        contacts.join(members.select("record_id"), on="record_id", how="semi"),
        members,
        golden_profiles.join(touched, on="cluster_id", how="semi"),
        config=config,
        merge_targets=merge_targets,
        preferred_survivors=preferred_survivors,
    )
    kept = previous.join(unchanged, on="cluster_id", how="semi").select(
        list(MERGE_INSTRUCTION_SCHEMA)
    )
    instructions = pl.concat([kept.cast(MERGE_INSTRUCTION_SCHEMA), fresh]).sort("instruction_id")  # type: ignore[arg-type]
    return instructions, stored_keys(keys, instructions), touched.height
