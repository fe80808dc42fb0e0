"""DuckDB connections with the memory and temp-space limits from the configuration."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dedup_pipeline.config import WarehouseConfig

__all__ = ["connect"]


def connect(
    settings: WarehouseConfig, *, database: str | Path = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection that spills to disk instead of exhausting memory.

    Parameters
    ----------
    settings
        Memory limit, thread count and temp directory.
    database
        A database file, or ``":memory:"`` for a scratch database.
    """
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    temp_directory = Path(settings.temp_directory)
    temp_directory.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(database))
    connection.execute(f"SET memory_limit = '{settings.memory_limit}'")
    connection.execute(f"SET temp_directory = '{temp_directory.as_posix()}'")
    # Insertion order is irrelevant to every stage and keeping it costs memory at scale.
    connection.execute("SET preserve_insertion_order = false")
    if settings.threads is not None:
        connection.execute(f"SET threads = {int(settings.threads)}")
    return connection
