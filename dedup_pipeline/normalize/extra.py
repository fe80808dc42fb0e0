"""Extra match fields (a date of birth, a postcode, a tax id): parsed and normalised."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from dedup_pipeline.config import ExtraComparison, ExtraFieldConfig
from dedup_pipeline.normalize.text import normalize_text

__all__ = ["DATE_FORMATS", "extra_field_columns", "normalize_date"]

#: Date formats tried in order; day-first before month-first, as Russian and British
#: exports write them.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%m/%d/%Y",
)


def normalize_date(text: pl.Expr) -> pl.Expr:
    """``YYYYMMDD`` of a date written in any of `DATE_FORMATS`.

    A time part after the date is ignored. A value no format reads (a typo such as
    "19902030") is kept as normalised text, so that it still compares by edit distance.
    """
    cleaned = normalize_text(text).str.replace(r"[ t]\d{1,2}:\d{2}.*$", "")
    parsed = pl.coalesce(
        [cleaned.str.to_date(fmt, strict=False, exact=True) for fmt in DATE_FORMATS]
    )
    return pl.coalesce(parsed.dt.strftime("%Y%m%d"), cleaned)


def extra_field_columns(extra: pl.Expr, fields: Mapping[str, ExtraFieldConfig]) -> list[pl.Expr]:
    """One normalised column per extra field, named after the field.

    Parameters
    ----------
    extra
        The source records' ``extra`` column (a JSON object by field name).
    fields
        The configured extra fields.
    """
    if not fields:
        return []
    decoded = extra.str.json_decode(pl.Struct({name: pl.String for name in fields}))
    columns = []
    for name, field in fields.items():
        value = decoded.struct.field(name)
        if field.comparison is ExtraComparison.DATE:
            columns.append(normalize_date(value).alias(name))
        else:
            columns.append(normalize_text(value).alias(name))
    return columns
