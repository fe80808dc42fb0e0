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
from dedup_pipeline.review.decide import Outcome
from dedup_pipeline.schema import require_columns
from dedup_pipeline.survivorship.golden import (
    display_value,
    record_rank_columns,
    rule_sort_keys,
)

__all__ = [
    "MERGE_INSTRUCTION_SCHEMA",
    "MergeInstruction",
    "RecordRef",
    "build_merge_instructions",
    "instructions_to_jsonl",
    "merge_instruction_json_schema",
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
    changes = []
    for field in GOLDEN_SCALAR_FIELDS:
        golden_value, current = pl.col(f"golden_{field}"), pl.col(f"current_{field}")
        changes.append(
            pl.when(golden_value.is_not_null() & (current.is_null() | (golden_value != current)))
            .then(golden_value)
            .alias(field)
        )
    for field in GOLDEN_LIST_FIELDS:
        golden_value, current = pl.col(f"golden_{field}"), pl.col(f"current_{field}")
        lacking = golden_value.list.set_difference(current).list.len() > 0
        changes.append(pl.when(lacking).then(golden_value).alias(field))
    with_changes = per_source.join(golden, on="cluster_id").with_columns(
        set_fields=pl.struct(changes)
    )
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
