"""Table schemas shared by the stages.

Every stage passes polars DataFrames with one of these schemas. Keeping them in one place
lets each stage validate its input cheaply and lets tests build tables by hand.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

__all__ = [
    "CONTACT_TEXT_FIELDS",
    "QUARANTINE_SCHEMA",
    "SOURCE_RECORD_SCHEMA",
    "SchemaMismatchError",
    "empty_quarantine",
    "empty_source_records",
    "make_record_id",
    "require_columns",
]

TIMESTAMP = pl.Datetime("us")

#: Text fields of the canonical contact (the single-valued ones).
CONTACT_TEXT_FIELDS: tuple[str, ...] = (
    "first_name",
    "middle_name",
    "last_name",
    "full_name",
    "company",
    "city",
)

#: One row per source record, as read from an export and mapped to canonical fields.
#:
#: ``record_id`` is ``"<source>:<source_record_id>"`` and is unique across all sources.
#: ``source_row`` is the 1-based row of the record in its file (the line number for text
#: formats, header included), so errors and reviewers can point at the original.
#: ``attributes`` holds the unmapped columns of the export as a JSON object; ``extra`` holds
#: the extra match fields (``columns.extra`` in the config) as a JSON object by field name.
SOURCE_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "source": pl.String(),
    "source_record_id": pl.String(),
    "source_row": pl.Int64(),
    "first_name": pl.String(),
    "middle_name": pl.String(),
    "last_name": pl.String(),
    "full_name": pl.String(),
    "phones": pl.List(pl.String()),
    "emails": pl.List(pl.String()),
    "company": pl.String(),
    "city": pl.String(),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "attributes": pl.String(),
    "extra": pl.String(),
}

#: Input rows that could not become source records, with the reason.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),
    "source_row": pl.Int64(),
    "source_record_id": pl.String(),
    "field": pl.String(),
    "reason": pl.String(),
    "raw": pl.String(),
}


class SchemaMismatchError(ValueError):
    """A table handed to a stage lacks columns the stage needs."""


def make_record_id(source: str, source_record_id: str) -> str:
    """Return the pipeline-wide id of a source record."""
    return f"{source}:{source_record_id}"


def empty_source_records() -> pl.DataFrame:
    """Return an empty table of source records."""
    return pl.DataFrame(schema=SOURCE_RECORD_SCHEMA)


def empty_quarantine() -> pl.DataFrame:
    """Return an empty quarantine table."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def require_columns(
    frame: pl.DataFrame | pl.LazyFrame,
    schema: Mapping[str, pl.DataType] | list[str],
    *,
    table: str,
) -> None:
    """Raise `SchemaMismatchError` naming the missing columns of ``table``."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [column for column in schema if column not in names]
    if missing:
        raise SchemaMismatchError(f"table {table!r} lacks column(s): {', '.join(missing)}")
