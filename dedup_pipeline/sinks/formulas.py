"""CSV cells a spreadsheet would run as formulas, made inert (CSV injection).

A contact named ``=HYPERLINK("http://x","y")`` or ``+cmd|' /C calc'!A0`` reaches every
export that carries names; Excel, LibreOffice and Google Sheets execute such a cell when
the CSV is opened. As OWASP advises, a cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return (or their full-width forms) gets a leading ``'``, which makes a
spreadsheet read it as text. A plain number or phone ("+7 (912) 345-67-89", "-5") calls
nothing and is left as written, so phones stay readable. Machine formats (Parquet, JSONL)
are never changed: only CSVs meant for people go through `neutralize_formulas`.
"""

from __future__ import annotations

import polars as pl

__all__ = ["FORMULA_PREFIX", "neutralize_formulas", "restore_formulas"]

#: What a neutralised cell starts with.
FORMULA_PREFIX = "'"

# What a spreadsheet reads a formula from, full-width forms included.
_TRIGGERS = r"=+\-@\t\r＝＋－＠"
_TRIGGER = f"^[{_TRIGGERS}]"
# Digits, spaces and phone punctuation only: arithmetic at most, never a call or a link.
_PLAIN_NUMBER = r"^[+\-]?[0-9\s().\-]*$"


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix ``'`` to every text cell a spreadsheet would read as a formula.

    Parameters
    ----------
    frame
        A table about to be written as CSV (lists and structs already flattened).

    Returns
    -------
    polars.DataFrame
        The same table; only string cells that start with a formula trigger and are not
        a plain number or phone are changed.
    """
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_TRIGGER) & ~pl.col(name).str.contains(_PLAIN_NUMBER))
        .then(pl.lit(FORMULA_PREFIX) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def restore_formulas(column: pl.Expr) -> pl.Expr:
    """Undo `neutralize_formulas` on a column read back from such a CSV."""
    return (
        pl.when(column.str.contains(f"^{FORMULA_PREFIX}[{_TRIGGERS}]"))
        .then(column.str.slice(len(FORMULA_PREFIX)))
        .otherwise(column)
    )
