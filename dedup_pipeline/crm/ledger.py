"""The push ledger: what happened to each merge instruction in each CRM.

A push applies instructions one by one and records each outcome as soon as the CRM
answers, in a DuckDB table (transactional, unlike the Parquet-backed asset tables), so a
push that stops half-way resumes where it stopped: an instruction already applied is
never sent again, which would merge twice. An instruction is identified by its id and a
hash of its content; a changed instruction (new golden values) is a new entry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from dedup_pipeline.survivorship.instructions import MERGE_INSTRUCTION_SCHEMA, instructions_to_jsonl

__all__ = [
    "LEDGER_SCHEMA",
    "PushLedger",
    "PushStatus",
    "instruction_versions",
]


class PushStatus:
    """Outcomes of one instruction in its CRM (plain strings in the table)."""

    # About to be sent, no answer recorded yet. A push that finds one after a stop must
    # look at the CRM before sending it again: the CRM may have applied it.
    PENDING = "pending"
    APPLIED = "applied"
    CONFLICT = "conflict"  # the CRM refused to merge disagreeing values: merge by hand
    FAILED = "failed"
    UNDONE = "undone"  # taken back by `dedup push undo`; not pushed again


#: One row per instruction version and CRM.
LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "instruction_id": pl.String(),
    "instruction_version": pl.String(),
    "source": pl.String(),
    "status": pl.String(),
    "answer": pl.String(),
    "snapshot": pl.String(),
    "attempts": pl.Int32(),
    "updated_at": pl.Datetime("us", "UTC"),
}

_TABLE = "push_ledger"


def instruction_versions(instructions: pl.DataFrame) -> pl.DataFrame:
    """``instruction_id`` and ``instruction_version``: SHA-256 (16 hex digits) of each
    instruction's JSON line, so any change to what it asks gives a new version."""
    lines = instructions_to_jsonl(instructions.select(list(MERGE_INSTRUCTION_SCHEMA)))
    versions = [hashlib.sha256(line.encode("utf-8")).hexdigest()[:16] for line in lines]
    return pl.DataFrame(
        {"instruction_id": instructions["instruction_id"], "instruction_version": versions},
        schema={"instruction_id": pl.String, "instruction_version": pl.String},
    )


class PushLedger:
    """The ledger table in a DuckDB database the pushing process owns."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        connection.execute(
            f"""
            create table if not exists {_TABLE} (
                instruction_id varchar not null,
                instruction_version varchar not null,
                source varchar not null,
                status varchar not null,
                answer varchar,
                snapshot varchar,
                attempts integer not null,
                updated_at timestamptz not null,
                primary key (instruction_id, instruction_version)
            )
            """
        )

    def entries(self) -> pl.DataFrame:
        """Every entry (`LEDGER_SCHEMA`)."""
        frame = self._connection.sql(f"select * from {_TABLE}").pl()
        return frame.cast(LEDGER_SCHEMA)  # type: ignore[arg-type]

    def to_apply(self, instructions: pl.DataFrame) -> pl.DataFrame:
        """The instructions not yet applied in this version (conflicts are not retried:
        they wait for a person; an undone merge is not made again), with their
        ``instruction_version``."""
        versioned = instructions.join(instruction_versions(instructions), on="instruction_id")
        settled = self.entries().filter(
            pl.col("status").is_in([PushStatus.APPLIED, PushStatus.CONFLICT, PushStatus.UNDONE])
        )
        return versioned.join(
            settled.select("instruction_id", "instruction_version"),
            on=["instruction_id", "instruction_version"],
            how="anti",
        )

    def merged_away(self, source: str) -> set[str]:
        """Ids of ``source``'s cards that applied instructions merged into others (and
        survivors the CRM re-numbered), which a pull must no longer hold."""
        rows = self._connection.execute(
            f"""
            select distinct unnest(
                cast(json_extract_string(answer, '$.retired_ids[*]') as varchar[])
            )
            from {_TABLE}
            where source = ? and status = ?
            """,
            [source, PushStatus.APPLIED],
        ).fetchall()
        return {row[0] for row in rows if row[0] is not None}

    def record(
        self,
        instruction_id: str,
        instruction_version: str,
        *,
        source: str,
        status: str,
        answer: Any = None,
        snapshot: Any = None,
    ) -> None:
        """Record an outcome now (committed before the next instruction is sent).

        A try starts with ``PENDING`` (which counts an attempt) and ends with the CRM's
        answer. ``snapshot`` is the records as they were before the change, for audit and
        undo; the first one recorded is kept.
        """
        self._connection.execute(
            f"""
            insert into {_TABLE} values (?, ?, ?, ?, ?, ?, 1, ?)
            on conflict (instruction_id, instruction_version) do update set
                status = excluded.status,
                answer = excluded.answer,
                snapshot = coalesce({_TABLE}.snapshot, excluded.snapshot),
                attempts = {_TABLE}.attempts
                    + case when excluded.status = 'pending' then 1 else 0 end,
                updated_at = excluded.updated_at
            """,
            [
                instruction_id,
                instruction_version,
                source,
                status,
                None if answer is None else json.dumps(answer, ensure_ascii=False),
                None if snapshot is None else json.dumps(snapshot, ensure_ascii=False),
                datetime.now(UTC),
            ],
        )
