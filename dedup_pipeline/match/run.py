"""Run the match stage on a scratch DuckDB database with the configured limits."""

from __future__ import annotations

from typing import Any

import polars as pl
from splink import DuckDBAPI

from dedup_pipeline.config import DecisionConfig, MatchConfig, WarehouseConfig
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.match.model import MatchResult, score_and_cluster
from dedup_pipeline.match.prepare import prepare_match_input

__all__ = ["match_contacts"]


def match_contacts(
    contacts: pl.DataFrame,
    *,
    match: MatchConfig,
    decision: DecisionConfig,
    warehouse: WarehouseConfig,
    model: dict[str, Any] | None = None,
    labelled_pairs: pl.DataFrame | None = None,
) -> tuple[MatchResult, pl.DataFrame]:
    """Prepare contacts, then train, score and cluster them with Splink on DuckDB.

    Splink's intermediate tables live in a private in-memory database (spilling to the
    warehouse's temp directory), so the warehouse file stays owned by one writer.
    ``labelled_pairs`` are reviewers' labelled pairs for ``match.learn_from_decisions``
    (see `score_and_cluster`).

    Returns
    -------
    tuple
        The `MatchResult` and the shared identifiers left out of blocking.
    """
    connection = connect(warehouse)
    try:
        match_input, shared = prepare_match_input(
            contacts,
            max_block_size=match.max_block_size,
            extra_fields=match.extra_fields,
            connection=connection,
        )
        result = score_and_cluster(
            match_input,
            db_api=DuckDBAPI(connection),
            config=match,
            auto_merge_threshold=decision.auto_merge_threshold,
            review_threshold=decision.review_threshold,
            model=model,
            labelled_pairs=labelled_pairs,
        )
    finally:
        connection.close()
    return result, shared
