"""File exports: Parquet for every table, CSV for people, JSONL for merge instructions.

CSVs are opened in spreadsheets: their cells are made safe to open
(`dedup_pipeline.sinks.formulas`); Parquet and JSONL keep every value exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from dedup_pipeline.sinks._atomic import copy_atomically, replace_atomically
from dedup_pipeline.sinks.formulas import neutralize_formulas
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
        "flagged_records",
    ),
    parquet_copies: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Write each table as Parquet, the ones people open as CSV, instructions as JSONL.

    Parameters
    ----------
    tables
        Table name -> rows.
    directory
        Where the files go.
    csv_tables
        The tables also written as CSV.
    parquet_copies
        Table name -> a Parquet file that already holds exactly its rows (the
        warehouse's); it is copied instead of encoding the rows again. A table named
        here but not in ``tables`` is exported as that Parquet copy only.

    Returns
    -------
    dict
        ``"<table>.<format>"`` -> path written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    copies = dict(parquet_copies or {})
    written: dict[str, Path] = {}
    for name, source in copies.items():
        if name not in tables and not source.is_file():
            raise FileNotFoundError(f"{source}: no Parquet file to export {name!r} from")
    for name in [*tables, *(name for name in copies if name not in tables)]:
        parquet = directory / f"{name}.parquet"
        source = copies.get(name)
        if source is not None and source.is_file():
            copy_atomically(source, parquet)
        else:
            replace_atomically(parquet, tables[name].write_parquet)
        written[f"{name}.parquet"] = parquet
        if name in csv_tables and name in tables:
            csv = directory / f"{name}.csv"
            safe = neutralize_formulas(flatten_for_csv(tables[name]))
            replace_atomically(csv, safe.write_csv)
            written[f"{name}.csv"] = csv
    if "merge_instructions" in tables:
        jsonl = directory / "merge_instructions.jsonl"
        lines = instructions_to_jsonl(tables["merge_instructions"])
        text = lines.str.join("\n").item() + "\n" if lines.len() else ""
        replace_atomically(jsonl, lambda target: target.write_text(text, encoding="utf-8"))
        written["merge_instructions.jsonl"] = jsonl
    return written
