"""`read_source`: dispatch on the export format, then map to canonical records."""

from __future__ import annotations

from dedup_pipeline.config import ConfigError, SourceConfig, SourceFormat
from dedup_pipeline.sources.base import RawTable, SourceError, SourceReadResult
from dedup_pipeline.sources.csv_reader import read_csv_export
from dedup_pipeline.sources.mapping import map_records
from dedup_pipeline.sources.other_readers import (
    read_json_export,
    read_jsonl_export,
    read_parquet_export,
    read_xlsx_export,
)

__all__ = ["read_source"]


def _read_raw(source: SourceConfig) -> RawTable:
    path = source.path
    try:
        fmt = source.resolved_format
    except ConfigError as exc:
        raise SourceError(str(exc)) from None
    list_columns = {*source.columns.phones, *source.columns.emails}
    mapped = source.columns.mapped_columns()
    if fmt is SourceFormat.CSV:
        return read_csv_export(
            path, source.name, encoding=source.encoding, delimiter=source.delimiter
        )
    if fmt is SourceFormat.XLSX:
        return read_xlsx_export(path, sheet=source.sheet)
    if fmt is SourceFormat.PARQUET:
        return read_parquet_export(path)
    if fmt is SourceFormat.JSON:
        return read_json_export(path, source.name, list_columns=list_columns, mapped_columns=mapped)
    return read_jsonl_export(path, source.name, list_columns=list_columns, mapped_columns=mapped)


def read_source(source: SourceConfig) -> SourceReadResult:
    """Read one export into canonical source records.

    Parameters
    ----------
    source
        Where the export is, its format and how its columns map.

    Returns
    -------
    SourceReadResult
        Records, quarantined rows, value issues and what was detected.

    Raises
    ------
    SourceError
        When the file is missing or unreadable as a whole, or lacks a mapped column.
    """
    if not source.path.is_file():
        raise SourceError(f"{source.path}: source file not found (source {source.name!r})")
    raw = _read_raw(source)
    records, quarantine, issues = map_records(raw, source)
    return SourceReadResult(
        records=records,
        quarantine=quarantine,
        issues=issues,
        rows_read=records.height + quarantine.height,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
    )
