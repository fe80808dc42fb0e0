"""File exports: Parquet for every table, CSV for people, JSONL for merge instructions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from dedup_pipeline.survivorship.instructions import instructions_to_jsonl

__all__ = ["flatten_for_csv", "write_exports"]


def flatten_for_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Make a table CSV-friendly: lists joined with ``|``, structs split into columns."""
    columns: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Struct):
            for field in dtype.fields:
                inner = pl.col(name).struct.field(field.name)
                if isinstance(field.dtype, pl.List):
                    inner = inner.list.join("|")
                columns.append(inner.alias(f"{name}.{field.name}"))
        elif isinstance(dtype, pl.List):
            columns.append(pl.col(name).cast(pl.List(pl.String)).list.join("|"))
        else:
            columns.append(pl.col(name))
    return frame.select(columns)


def write_exports(
    tables: Mapping[str, pl.DataFrame],
    directory: Path,
    *,
    csv_tables: tuple[str, ...] = (
        "golden_profiles",
        "clusters",
        "merge_instructions",
        "review_queue",
        "quarantine",
        "value_issues",
    ),
) -> dict[str, Path]:
    """Write each table as Parquet, the ones people open as CSV, instructions as JSONL.

    Returns
    -------
    dict
        ``"<table>.<format>"`` -> path written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        parquet = directory / f"{name}.parquet"
        frame.write_parquet(parquet)
        written[f"{name}.parquet"] = parquet
        if name in csv_tables:
            csv = directory / f"{name}.csv"
            flatten_for_csv(frame).write_csv(csv)
            written[f"{name}.csv"] = csv
    if "merge_instructions" in tables:
        jsonl = directory / "merge_instructions.jsonl"
        lines = instructions_to_jsonl(tables["merge_instructions"])
        text = lines.str.join("\n").item() + "\n" if lines.len() else ""
        jsonl.write_text(text, encoding="utf-8")
        written["merge_instructions.jsonl"] = jsonl
    return written
