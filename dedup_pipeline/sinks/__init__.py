"""Sinks: the DuckDB warehouse and file exports."""

from dedup_pipeline.sinks.files import flatten_for_csv, write_exports
from dedup_pipeline.sinks.warehouse import read_table, table_directory, table_exists, write_table

__all__ = [
    "flatten_for_csv",
    "read_table",
    "table_directory",
    "table_exists",
    "write_exports",
    "write_table",
]
