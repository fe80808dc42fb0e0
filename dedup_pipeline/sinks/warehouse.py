"""Tables in the embedded DuckDB warehouse.

A table is stored either inside the DuckDB file or, with ``directory``, as a Parquet file
there with a view of the same name in the DuckDB file. The pipeline stores its assets the
second way: polars writes a million contacts to Parquet four times faster than DuckDB
loads them into its own storage, and reads them back twice as fast, while SQL users still
query every asset by name in the DuckDB file.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from dedup_pipeline.sinks._atomic import replace_atomically

__all__ = ["read_table", "table_directory", "table_exists", "write_table"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid warehouse table name")
    return name


def table_directory(database: str | Path) -> Path:
    """Where the Parquet files of a warehouse file's tables live: ``<name>_tables/`` beside
    ``<name>.duckdb``."""
    database = Path(database)
    return database.with_name(f"{database.stem}_tables")


def _parquet(directory: Path, name: str) -> Path:
    return directory / f"{_checked(name)}.parquet"


def write_table(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    frame: pl.DataFrame,
    *,
    directory: Path | None = None,
) -> None:
    """Create or replace table ``name`` with the contents of ``frame``.

    Parameters
    ----------
    connection
        The warehouse database.
    name
        Table name (letters, digits and underscores).
    frame
        The rows; their types are kept.
    directory
        Store the rows as ``<directory>/<name>.parquet`` and make ``name`` a view over it
        (by absolute path: moving the directory breaks the views, not the files).
        Without it, the rows are loaded into the DuckDB file.
    """
    _checked(name)
    existing = _kind(connection, name)
    if directory is None:
        if existing == "VIEW":
            connection.execute(f'DROP VIEW "{name}"')
        arrow = frame.to_arrow()  # noqa: F841 - referenced by name in the SQL below
        connection.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM arrow')
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = _parquet(directory, name)
    replace_atomically(path, lambda target: frame.write_parquet(target, compression="lz4"))
    if existing == "BASE TABLE":
        connection.execute(f'DROP TABLE "{name}"')
    location = str(path.resolve()).replace("'", "''")
    connection.execute(
        f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{location}')"
    )


def read_table(
    connection: duckdb.DuckDBPyConnection, name: str, *, directory: Path | None = None
) -> pl.DataFrame:
    """Read table ``name`` into polars: from its Parquet file when ``directory`` holds one,
    else through DuckDB (via Arrow)."""
    if directory is not None:
        path = _parquet(directory, name)
        if path.is_file() and _kind(connection, name) == "VIEW":
            return pl.read_parquet(path)
    return connection.sql(f'SELECT * FROM "{_checked(name)}"').pl()


def _kind(connection: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """``"BASE TABLE"``, ``"VIEW"`` or None when there is no such table."""
    found = connection.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return found[0] if found else None


def table_exists(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse holds table (or view) ``name``."""
    return _kind(connection, name) is not None
