"""Resources: the pipeline configuration and the DuckDB warehouse, as swappable classes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
from dagster import ConfigurableResource
from pydantic import Field

from dedup_pipeline.config import PipelineConfig, WarehouseConfig, load_config
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.review import DecisionStore
from dedup_pipeline.sinks import read_table, table_directory, table_exists, write_table

__all__ = ["DuckDBWarehouse", "PipelineSettings", "ReviewStore"]


class PipelineSettings(ConfigurableResource):
    """The YAML configuration a run follows."""

    config_path: str
    model_path: str | None = Field(
        default=None,
        description="A saved splink_model.json to reuse for this run (overrides match.model).",
    )
    mode: Literal["full", "incremental"] = Field(
        default="full",
        description=(
            "full: train the model and score every pair. incremental: place only new and "
            "changed records with the last run's model, keeping its other pairs."
        ),
    )

    @cached_property
    def config(self) -> PipelineConfig:
        """The validated configuration, with `model_path` as ``match.model`` when set."""
        config = load_config(self.config_path)
        if self.model_path is None:
            return config
        match = config.match.model_copy(update={"model": Path(self.model_path).resolve()})
        return config.model_copy(update={"match": match})


class DuckDBWarehouse(ConfigurableResource):
    """The embedded DuckDB warehouse file, opened by one process at a time.

    Jobs run with the in-process executor, so a run's steps open the file one after the
    other and never contend for DuckDB's single-writer lock. Tables are Parquet files in
    `table_directory`, each with a view of its name in the DuckDB file
    (`dedup_pipeline.sinks.write_table`).
    """

    path: str
    memory_limit: str = "8GB"
    temp_directory: str
    threads: int | None = None

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> DuckDBWarehouse:
        """Build the resource from the ``warehouse`` section of a pipeline config."""
        return cls(
            path=str(config.path),
            memory_limit=config.memory_limit,
            temp_directory=str(config.temp_directory),
            threads=config.threads,
        )

    @property
    def settings(self) -> WarehouseConfig:
        """The limits DuckDB runs with."""
        return WarehouseConfig(
            path=Path(self.path),
            memory_limit=self.memory_limit,
            temp_directory=Path(self.temp_directory),
            threads=self.threads,
        )

    @property
    def table_directory(self) -> Path:
        """Where the tables' Parquet files are."""
        return table_directory(self.path)

    def table_path(self, name: str) -> Path:
        """The Parquet file of table ``name`` (which may not exist yet)."""
        return self.table_directory / f"{name}.parquet"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse file; closed when the block ends."""
        connection = connect(self.settings, database=self.path)
        try:
            yield connection
        finally:
            connection.close()

    def write_table(self, name: str, frame: pl.DataFrame) -> None:
        """Create or replace table ``name``."""
        with self.connect() as connection:
            write_table(connection, name, frame, directory=self.table_directory)

    def read_tables(self, *names: str) -> dict[str, pl.DataFrame]:
        """The named tables the warehouse holds; missing ones are left out.

        Steps read the last run's state this way before their outputs replace it.
        """
        with self.connect() as connection:
            return {
                name: read_table(connection, name, directory=self.table_directory)
                for name in names
                if table_exists(connection, name)
            }


class ReviewStore(ConfigurableResource):
    """Reviewers' decisions: a SQLAlchemy database apart from the warehouse.

    Tests point it at a temporary SQLite file; production at ``review.database_url``.
    """

    url: str

    @contextmanager
    def open(self) -> Iterator[DecisionStore]:
        """Open the decisions store; closed when the block ends."""
        store = DecisionStore(self.url)
        try:
            yield store
        finally:
            store.close()
