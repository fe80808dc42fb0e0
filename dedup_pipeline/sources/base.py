"""Types shared by the source readers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dedup_pipeline.schema import QUARANTINE_SCHEMA, empty_quarantine

__all__ = ["ISSUE_SCHEMA", "RawTable", "SourceError", "SourceReadResult", "quarantine_frame"]

#: Value problems found in records that were kept.
ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "field": pl.String(),
    "problem": pl.String(),
    "raw": pl.String(),
}


class SourceError(ValueError):
    """An export cannot be read at all; the message names the file (and column/row)."""


@dataclass(frozen=True)
class SourceReadResult:
    """One export read into canonical source records.

    Attributes
    ----------
    records
        Kept rows, exactly `SOURCE_RECORD_SCHEMA`.
    quarantine
        Rows that did not become records, exactly `QUARANTINE_SCHEMA`.
    issues
        Value problems in kept records: ``record_id``, ``field`` (canonical field name),
        ``problem``, ``raw``.
    rows_read
        Data rows seen in the file; always ``records.height + quarantine.height``.
    encoding, delimiter
        What was used to read a CSV file (None for other formats).
    """

    records: pl.DataFrame
    quarantine: pl.DataFrame
    issues: pl.DataFrame
    rows_read: int
    encoding: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class RawTable:
    """An export as read, before mapping.

    ``frame`` holds the export's columns (String, List(String) for multi-valued JSON
    values, or native types for Parquet); ``source_rows`` is aligned with it. ``rejected``
    holds rows that could not be parsed, already in `QUARANTINE_SCHEMA`.
    """

    frame: pl.DataFrame
    source_rows: pl.Series
    rejected: pl.DataFrame
    encoding: str | None = None
    delimiter: str | None = None


def quarantine_frame(
    source: str,
    path: Path,
    *,
    source_row: pl.Series | list[int],
    reason: pl.Series | list[str],
    raw: pl.Series | list[str | None],
    source_record_id: pl.Series | list[str | None] | None = None,
    field: str | None = None,
) -> pl.DataFrame:
    """Build quarantine rows from aligned columns."""
    rows = pl.Series("source_row", source_row, dtype=pl.Int64)
    if rows.len() == 0:
        return empty_quarantine()
    ids = (
        pl.Series("source_record_id", source_record_id, dtype=pl.String)
        if source_record_id is not None
        else pl.repeat(None, rows.len(), dtype=pl.String, eager=True)
    )
    frame = pl.DataFrame(
        {
            "source_row": rows,
            "source_record_id": ids,
            "reason": pl.Series(reason, dtype=pl.String),
            "raw": pl.Series(raw, dtype=pl.String),
        }
    ).with_columns(
        source=pl.lit(source, dtype=pl.String),
        file=pl.lit(str(path), dtype=pl.String),
        field=pl.lit(field, dtype=pl.String),
    )
    return frame.select(QUARANTINE_SCHEMA.keys()).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
