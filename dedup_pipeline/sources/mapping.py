"""Map raw export columns to canonical source records.

Everything here is polars expressions over whole columns: no Python work per row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dedup_pipeline.config import ColumnMapping, SourceConfig
from dedup_pipeline.schema import (
    CONTACT_TEXT_FIELDS,
    QUARANTINE_SCHEMA,
    SOURCE_RECORD_SCHEMA,
    TIMESTAMP,
)
from dedup_pipeline.sources.base import ISSUE_SCHEMA, RawTable, SourceError

__all__ = ["DEFAULT_TIMESTAMP_FORMATS", "map_records"]

#: Tried after the source's own formats. With exact matching no two of them accept the same
#: value, so their order does not matter. ``%.f`` also matches no fraction at all; a
#: trailing ``Z`` is UTC already.
DEFAULT_TIMESTAMP_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y-%m-%d",
)
_SAMPLE_SIZE = 1000
_TIMESTAMP_FIELDS = ("created_at", "updated_at")


def _unique_name(base: str, taken: list[str]) -> str:
    name = base
    while name in taken:
        name = f"_{name}_"
    return name


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Return a column as text, unchanged where it already is text."""
    column = pl.col(name)
    if dtype == pl.String:
        return column
    if isinstance(dtype, pl.List | pl.Array) and not dtype.inner.is_nested():  # type: ignore[union-attr]
        return column.cast(pl.List(pl.String)).list.join("; ")
    if isinstance(dtype, pl.Struct):
        return column.struct.json_encode()
    if dtype.is_nested():
        return pl.struct(column.alias("v")).struct.json_encode().str.json_path_match("$.v")
    return column.cast(pl.String)


def _clean(expr: pl.Expr) -> pl.Expr:
    """Trim; an empty string is no value."""
    trimmed = expr.str.strip_chars()
    return pl.when(trimmed != "").then(trimmed)


def _values(names: list[str], schema: pl.Schema) -> pl.Expr:
    """Merge several columns of ``,``/``;``-separated values into one ordered, distinct list."""
    if not names:
        return pl.lit([], dtype=pl.List(pl.String))
    parts = []
    for name in names:
        dtype = schema[name]
        column = pl.col(name)
        if isinstance(dtype, pl.List | pl.Array):
            text = column.cast(pl.List(pl.String)).list.join(",")
        else:
            text = _whole_number_text(name, dtype)
        parts.append(
            text.str.replace_all(";", ",", literal=True)
            .str.split(",")
            .fill_null(pl.lit([], dtype=pl.List(pl.String)))
        )
    merged = pl.concat_list(parts).list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
    )
    return merged.list.unique(maintain_order=True)


def _has_offset(fmt: str) -> bool:
    return any(marker in fmt for marker in ("%z", "%:z", "%#z", "%::z"))


def _parse_with(values: pl.Series, fmt: str) -> pl.Series:
    parsed = values.str.to_datetime(fmt, time_unit="us", strict=False)
    if _has_offset(fmt):
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return parsed


def _parse_text_timestamps(text: pl.Series, formats: list[str]) -> pl.Series:
    """Parse ``text`` with the source's formats in order, then the defaults.

    Each format only sees the values no earlier format parsed (the same result as
    coalescing all attempts). The defaults are mutually exclusive, so they are tried in
    the order that best fits a sample: failed attempts on a million rows are what cost.
    """
    result = pl.repeat(None, text.len(), dtype=TIMESTAMP, eager=True).alias(text.name)
    pending = text.is_not_null()
    ordered = list(formats)
    defaults = list(DEFAULT_TIMESTAMP_FORMATS)
    for position in range(len(formats) + len(defaults)):
        indices = pending.arg_true()
        if indices.len() == 0:
            break
        if position == len(formats):
            sample = text.gather(indices.head(_SAMPLE_SIZE))
            hits = {fmt: _parse_with(sample, fmt).is_not_null().sum() for fmt in defaults}
            ordered += sorted(defaults, key=lambda fmt: -hits[fmt])
        parsed = _parse_with(text.gather(indices), ordered[position])
        parsed_ok = parsed.is_not_null()
        found = indices.filter(parsed_ok)
        result = result.scatter(found, parsed.filter(parsed_ok))
        pending = pending.scatter(found, False)
    return result


def _timestamp(frame: pl.DataFrame, name: str, formats: list[str]) -> tuple[pl.Series, pl.Expr]:
    """Return (parsed timestamps, trimmed raw text expression) for a created/updated column."""
    dtype = frame.schema[name]
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return frame.select(column.cast(TIMESTAMP)).to_series(), pl.lit(None, dtype=pl.String)
    if dtype == pl.Date:
        return frame.select(column.cast(TIMESTAMP)).to_series(), pl.lit(None, dtype=pl.String)
    text = _clean(_as_text(name, dtype))
    return _parse_text_timestamps(frame.select(text).to_series(), formats), text


def _check_columns(mapping: ColumnMapping, columns: list[str], path: Path) -> None:
    missing = [name for name in mapping.mapped_columns() if name not in columns]
    if missing:
        raise SourceError(
            f"{path}: mapped column(s) not found: {', '.join(repr(m) for m in missing)}; "
            f"the file has: {', '.join(repr(c) for c in columns) or '(no columns)'}"
        )


def _check_id_type(mapping: ColumnMapping, schema: pl.Schema, path: Path) -> None:
    """Ids are read as the CRM wrote them: text or whole numbers, nothing a writer turned
    into floats (``51007659313.0``), flags or lists."""
    dtype = schema[mapping.source_record_id]
    if dtype == pl.String or dtype.is_integer():
        return
    raise SourceError(
        f"{path}: column {mapping.source_record_id!r} (source record id) holds {dtype} "
        "values; ids must be text or whole numbers as the CRM wrote them (export it as "
        "text: a float id such as 51007659313.0 would not find its card in the CRM)"
    )


def _wrong_text_type(dtype: pl.DataType) -> bool:
    """A type no name, company or city comes in: flags, lists, records."""
    return dtype == pl.Boolean or dtype.is_nested()


def _wrong_value_type(dtype: pl.DataType) -> bool:
    """A type no phone or e-mail comes in (lists of text are several values)."""
    if isinstance(dtype, pl.List | pl.Array):
        return dtype.inner.is_nested() or dtype.inner == pl.Boolean  # type: ignore[union-attr]
    return dtype == pl.Boolean or isinstance(dtype, pl.Struct)


def _whole_number_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A float column as text, whole numbers without ".0" (phones written as numbers)."""
    column = pl.col(name)
    if not dtype.is_float():
        return _as_text(name, dtype)
    return (
        pl.when(column == column.floor())
        .then(column.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(column.cast(pl.String))
    )


def _row_json(columns: list[str], schema: pl.Schema) -> pl.Expr:
    """JSON object text of the given columns (name -> text value)."""
    if not columns:
        return pl.lit("{}", dtype=pl.String)
    return pl.struct(
        [_as_text(name, schema[name]).alias(name) for name in columns]
    ).struct.json_encode()


def _extra_json(extra: dict[str, str], schema: pl.Schema) -> pl.Expr:
    """JSON object of the extra match fields, keyed by field name."""
    if not extra:
        return pl.lit("{}", dtype=pl.String)
    return pl.struct(
        [_clean(_as_text(column, schema[column])).alias(name) for name, column in extra.items()]
    ).struct.json_encode()


#: Longest value a mapped contact field may hold (a name, a phone list, a company...);
#: a longer one is a broken export or an attack, and its row goes to quarantine.
MAX_FIELD_CHARS = 10_000

#: How much of a quarantined row's text is kept.
_MAX_RAW_CHARS = 20_000

_CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _oversized_field(mapping: ColumnMapping, schema: pl.Schema) -> pl.Expr:
    """The first mapped column whose text is longer than `MAX_FIELD_CHARS`, or null."""
    names = dict.fromkeys([*mapping.mapped_columns(), *mapping.phones, *mapping.emails])
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for name in reversed(list(names)):
        too_long = _as_text(name, schema[name]).str.len_chars() > MAX_FIELD_CHARS
        expr = pl.when(too_long.fill_null(False)).then(pl.lit(name)).otherwise(expr)
    return expr


def map_records(
    raw: RawTable, source: SourceConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return (records, quarantine, issues) for a raw export.

    Rows with an empty source record id, and later rows repeating an id, go to quarantine
    (their ``raw`` is the row as a JSON object); the first occurrence of an id is kept.

    Raises
    ------
    SourceError
        When a mapped column is missing from the export.
    """
    mapping = source.columns
    path = source.path
    columns = raw.frame.columns
    schema = raw.frame.schema
    _check_columns(mapping, columns, path)
    _check_id_type(mapping, schema, path)

    row_col = _unique_name("__source_row__", columns)
    id_col = _unique_name("__source_record_id__", [*columns, row_col])
    frame = raw.frame.with_columns(raw.source_rows.alias(row_col)).with_columns(
        _clean(_as_text(mapping.source_record_id, schema[mapping.source_record_id])).alias(id_col)
    )

    # Only repeated ids need their first row: look those up instead of a window over all.
    first_col = _unique_name("__first_row__", [*columns, row_col, id_col])
    repeated = pl.col(id_col).is_not_null() & ~pl.col(id_col).is_first_distinct()
    frame = frame.with_columns(repeated.alias(first_col))
    repeats = frame.filter(pl.col(first_col))
    if repeats.height:
        firsts = (
            frame.filter(pl.col(id_col).is_in(repeats[id_col].implode()))
            .group_by(id_col)
            .agg(pl.col(row_col).min().alias(first_col))
        )
        frame = frame.drop(first_col).join(firsts, on=id_col, how="left", maintain_order="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(first_col))
    first_row = pl.col(first_col)
    is_repeat = first_row.is_not_null() & (pl.col(row_col) != first_row)
    # An id with control characters (a NUL from a broken export) would reach merge
    # instructions as a different id than the CRM's: the row is set aside, not cleaned.
    bad_id = pl.col(id_col).str.contains(_CONTROL_CHARACTERS)
    oversized = _oversized_field(mapping, schema)
    id_field = pl.lit(mapping.source_record_id, dtype=pl.String)
    problems = frame.filter(
        pl.col(id_col).is_null() | is_repeat | bad_id | oversized.is_not_null()
    ).select(
        pl.lit(source.name, dtype=pl.String).alias("source"),
        pl.lit(str(path), dtype=pl.String).alias("file"),
        pl.col(row_col).cast(pl.Int64).alias("source_row"),
        pl.col(id_col).str.replace_all(_CONTROL_CHARACTERS, "").alias("source_record_id"),
        pl.when(pl.col(id_col).is_null() | is_repeat.fill_null(False) | bad_id.fill_null(False))
        .then(id_field)
        .otherwise(oversized)
        .alias("field"),
        pl.when(pl.col(id_col).is_null())
        .then(pl.lit("missing source record id"))
        .when(bad_id)
        .then(pl.lit("source record id contains control characters (e.g. NUL)"))
        .when(is_repeat)
        .then(pl.format("duplicate source record id (first seen on row {})", first_row))
        .otherwise(
            pl.format(
                "value longer than {} characters: not a contact field",
                pl.lit(MAX_FIELD_CHARS),
            )
        )
        .alias("reason"),
        _row_json(columns, schema).str.slice(0, _MAX_RAW_CHARS).alias("raw"),
    )
    # Filtering copies every column; skip it in the usual case of nothing to drop.
    kept = (
        frame.filter(
            pl.col(id_col).is_not_null()
            & ~is_repeat.fill_null(False)
            & ~bad_id.fill_null(False)
            & oversized.is_null()
        )
        if problems.height
        else frame
    )

    mapped = set(mapping.mapped_columns())
    record_id = pl.concat_str(pl.lit(f"{source.name}:"), pl.col(id_col))
    selects: dict[str, pl.Expr] = {
        "record_id": record_id,
        "source": pl.lit(source.name, dtype=pl.String),
        "source_record_id": pl.col(id_col),
        "source_row": pl.col(row_col).cast(pl.Int64),
    }
    # A column of the wrong type (a writer's flags, lists or records) gives no value: each
    # of its values is a value issue, never text such as "true" or "Eric; Eric".
    wrongly_typed: list[tuple[str, str]] = []
    for field in CONTACT_TEXT_FIELDS:
        name = getattr(mapping, field)
        if name and _wrong_text_type(schema[name]):
            wrongly_typed.append((field, name))
            name = None
        selects[field] = (
            _clean(_as_text(name, schema[name])) if name else pl.lit(None, dtype=pl.String)
        )
    for field in ("phones", "emails"):
        names = getattr(mapping, field)
        wrongly_typed += [(field, n) for n in names if _wrong_value_type(schema[n])]
        selects[field] = _values([n for n in names if not _wrong_value_type(schema[n])], schema)
    issue_parts: list[pl.DataFrame] = [
        kept.filter(pl.col(name).is_not_null()).select(
            record_id.alias("record_id"),
            pl.lit(field, dtype=pl.String).alias("field"),
            pl.lit(f"expected text, found {schema[name]}", dtype=pl.String).alias("problem"),
            _as_text(name, schema[name]).alias("raw"),
        )
        for field, name in wrongly_typed
    ]
    # Parse each timestamp column once; both the record and the issue list use it.
    for field in _TIMESTAMP_FIELDS:
        name = getattr(mapping, field)
        if name is None:
            selects[field] = pl.lit(None, dtype=TIMESTAMP)
            continue
        parsed, text = _timestamp(kept, name, source.timestamp_formats)
        parsed_col = _unique_name(f"__{field}__", kept.columns)
        kept = kept.with_columns(parsed.alias(parsed_col))
        selects[field] = pl.col(parsed_col)
        issue_parts.append(
            kept.filter(text.is_not_null() & pl.col(parsed_col).is_null()).select(
                record_id.alias("record_id"),
                pl.lit(field, dtype=pl.String).alias("field"),
                pl.lit("unparseable timestamp", dtype=pl.String).alias("problem"),
                text.alias("raw"),
            )
        )
    selects["attributes"] = _row_json([c for c in columns if c not in mapped], schema)
    selects["extra"] = _extra_json(mapping.extra, schema)

    records = (
        kept.select(**selects)
        .select(SOURCE_RECORD_SCHEMA.keys())
        .cast(
            SOURCE_RECORD_SCHEMA  # type: ignore[arg-type]
        )
    )
    quarantine = pl.concat(
        [raw.rejected, problems.cast(QUARANTINE_SCHEMA)],  # type: ignore[arg-type]
        how="vertical",
    ).sort("source_row")
    issues = (
        pl.concat(issue_parts, how="vertical") if issue_parts else pl.DataFrame(schema=ISSUE_SCHEMA)
    )
    return records, quarantine, issues.cast(ISSUE_SCHEMA)  # type: ignore[arg-type]
