"""Resources: the pipeline configuration and the DuckDB warehouse, as swappable classes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Literal

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from dedup_pipeline.config import PipelineConfig, WarehouseConfig, load_config
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.review import DecisionStore

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
    other and never contend for DuckDB's single-writer lock.
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

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse file; closed when the block ends."""
        connection = connect(self.settings, database=self.path)
        try:
            yield connection
        finally:
            connection.close()


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
