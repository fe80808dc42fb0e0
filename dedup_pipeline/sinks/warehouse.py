"""Tables in the embedded DuckDB warehouse."""

from __future__ import annotations

import re

import duckdb
import polars as pl

__all__ = ["read_table", "table_exists", "write_table"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid warehouse table name")
    return name


def write_table(connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Create or replace table ``name`` with the contents of ``frame`` (via Arrow)."""
    arrow = frame.to_arrow()  # noqa: F841 - referenced by name in the SQL below
    connection.execute(f'CREATE OR REPLACE TABLE "{_checked(name)}" AS SELECT * FROM arrow')


def read_table(connection: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    """Read table ``name`` into polars (via Arrow)."""
    return connection.sql(f'SELECT * FROM "{_checked(name)}"').pl()


def table_exists(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse holds table ``name``."""
    found = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(found and found[0])
