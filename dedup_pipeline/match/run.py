"""Run the match stage on a scratch DuckDB database with the configured limits."""

from __future__ import annotations

from typing import Any

import polars as pl
from splink import DuckDBAPI

from dedup_pipeline.config import DecisionConfig, MatchConfig, WarehouseConfig
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.match.incremental import IncrementalMatch, match_incrementally
from dedup_pipeline.match.model import MatchResult, score_and_cluster
from dedup_pipeline.match.prepare import prepare_match_input

__all__ = ["match_contacts", "match_contacts_incrementally", "placed_records"]


def _prepare(
    contacts: pl.DataFrame, match: MatchConfig, connection: Any
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`prepare_match_input` with the configured block size and extra fields."""
    return prepare_match_input(
        contacts,
        max_block_size=match.max_block_size,
        extra_fields=match.extra_fields,
        connection=connection,
    )


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
        match_input, shared = _prepare(contacts, match, connection)
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


def placed_records(versions: pl.DataFrame, previous_versions: pl.DataFrame) -> pl.Series:
    """Record ids that are new since the last run or whose content changed.

    Parameters
    ----------
    versions, previous_versions
        ``record_id`` and ``record_version`` of this run's and the last run's contacts
        (`dedup_pipeline.review.versions.record_versions`: names, phones, e-mails,
        company, city and extra fields; a record touched only in its timestamps is not
        placed again).
    """
    before = previous_versions.select("record_id", before="record_version")
    return (
        versions.join(before, on="record_id", how="left")
        .filter(pl.col("before").is_null() | (pl.col("before") != pl.col("record_version")))
        .get_column("record_id")
    )


def match_contacts_incrementally(
    contacts: pl.DataFrame,
    *,
    versions: pl.DataFrame,
    previous_versions: pl.DataFrame,
    previous_pairs: pl.DataFrame,
    model: dict[str, Any],
    match: MatchConfig,
    decision: DecisionConfig,
    warehouse: WarehouseConfig,
) -> tuple[IncrementalMatch, pl.DataFrame, pl.Series]:
    """Place new and changed contacts among the last run's, with a trained model.

    Every contact is prepared (shared identifiers are judged on the whole base, as in a
    full run); only pairs with a new or changed record are scored
    (`dedup_pipeline.match.incremental.match_incrementally`). Records are placed when
    their entry in ``versions`` is new or differs from ``previous_versions``
    (`placed_records`).

    Returns
    -------
    tuple
        The `IncrementalMatch`, the shared identifiers, and the ids of the placed records.
    """
    placed = placed_records(versions, previous_versions)
    connection = connect(warehouse)
    try:
        match_input, shared = _prepare(contacts, match, connection)
        result = match_incrementally(
            match_input,
            placed,
            previous_pairs,
            db_api=DuckDBAPI(connection),
            config=match,
            model=model,
            auto_merge_threshold=decision.auto_merge_threshold,
            review_threshold=decision.review_threshold,
        )
    finally:
        connection.close()
    return result, shared, placed
