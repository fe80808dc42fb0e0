"""Run the match stage on a scratch DuckDB database with the configured limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from splink import DuckDBAPI

from dedup_pipeline.config import DecisionConfig, MatchConfig, WarehouseConfig
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.match.incremental import IncrementalMatch, match_incrementally
from dedup_pipeline.match.model import MatchResult, score_and_cluster
from dedup_pipeline.match.prepare import match_input_columns, prepare_match_input

__all__ = [
    "PreparedContacts",
    "match_contacts",
    "match_contacts_incrementally",
    "placed_records",
]


@dataclass(frozen=True)
class PreparedContacts:
    """What the match stage compared.

    Attributes
    ----------
    match_input
        One row per record as Splink saw it (`MATCH_INPUT_SCHEMA` plus extra fields).
    shared_identifiers
        Phones, e-mails and names judged too common or too mixed to be strong evidence
        (`SHARED_IDENTIFIER_SCHEMA`).
    """

    match_input: pl.DataFrame
    shared_identifiers: pl.DataFrame


def _prepare(
    contacts: pl.DataFrame,
    match: MatchConfig,
    connection: Any,
    prepared: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`prepare_match_input` with the configured block size and extra fields."""
    return prepare_match_input(
        contacts,
        max_block_size=match.max_block_size,
        extra_fields=match.extra_fields,
        connection=connection,
        prepared=prepared,
    )


def _prepare_placed(
    contacts: pl.DataFrame,
    placed: pl.Series,
    previous: PreparedContacts | None,
    match: MatchConfig,
    connection: Any,
) -> PreparedContacts:
    """Prepare the placed records against the settled ones' last match input.

    Without a usable last match input (a first nightly run after an upgrade, or changed
    extra fields), every record is prepared.
    """
    expected = match_input_columns(match.extra_fields)
    if previous is None or previous.match_input.columns != expected:
        return PreparedContacts(*_prepare(contacts, match, connection))
    present = contacts.get_column("record_id").implode()
    is_placed = pl.col("record_id").is_in(placed.implode())
    settled = previous.match_input.filter(pl.col("record_id").is_in(present) & ~is_placed)
    fresh, judged = _prepare(contacts.filter(is_placed), match, connection, prepared=settled)
    # Values the placed records hold were judged again on every holder; the rest keep
    # the last run's judgement.
    held = pl.concat(
        [
            fresh.select(kind=pl.lit("phone"), value=pl.col("phones")).explode("value"),
            fresh.select(kind=pl.lit("email"), value=pl.col("emails")).explode("value"),
            fresh.select(
                kind=pl.lit("name"),
                value=pl.concat_str("first_name", "last_name", separator=" "),
            ),
        ]
    ).drop_nulls()
    shared = pl.concat(
        [previous.shared_identifiers.join(held, on=["kind", "value"], how="anti"), judged]
    ).sort("record_count", "kind", "value", descending=[True, False, False])
    return PreparedContacts(match_input=pl.concat([settled, fresh]), shared_identifiers=shared)


def match_contacts(
    contacts: pl.DataFrame,
    *,
    match: MatchConfig,
    decision: DecisionConfig,
    warehouse: WarehouseConfig,
    model: dict[str, Any] | None = None,
    labelled_pairs: pl.DataFrame | None = None,
) -> tuple[MatchResult, PreparedContacts]:
    """Prepare contacts, then train, score and cluster them with Splink on DuckDB.

    Splink's intermediate tables live in a private in-memory database (spilling to the
    warehouse's temp directory), so the warehouse file stays owned by one writer.
    ``labelled_pairs`` are reviewers' labelled pairs for ``match.learn_from_decisions``
    (see `score_and_cluster`).

    Returns
    -------
    tuple
        The `MatchResult` and the `PreparedContacts` it compared.
    """
    connection = connect(warehouse)
    try:
        prepared = PreparedContacts(*_prepare(contacts, match, connection))
        match_input = prepared.match_input
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
    return result, prepared


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
    previous_prepared: PreparedContacts | None = None,
    previous_clusters: pl.DataFrame | None = None,
) -> tuple[IncrementalMatch, PreparedContacts, pl.Series]:
    """Place new and changed contacts among the last run's, with a trained model.

    Records are placed when their entry in ``versions`` is new or differs from
    ``previous_versions`` (`placed_records`). Only they are prepared, with the last run's
    match input of the others (``previous_prepared``) counting in every base-wide
    judgement (see ``prepared`` of `prepare_match_input`); without it, every contact is
    prepared. Only pairs with a placed record are scored, and with the last run's
    ``previous_clusters`` only the components they touch are clustered again
    (`dedup_pipeline.match.incremental.match_incrementally`).

    Returns
    -------
    tuple
        The `IncrementalMatch`, the `PreparedContacts` of every record, and the ids of the
        placed records.
    """
    placed = placed_records(versions, previous_versions)
    connection = connect(warehouse)
    try:
        prepared = _prepare_placed(contacts, placed, previous_prepared, match, connection)
        result = match_incrementally(
            prepared.match_input,
            placed,
            previous_pairs,
            db_api=DuckDBAPI(connection),
            config=match,
            model=model,
            auto_merge_threshold=decision.auto_merge_threshold,
            review_threshold=decision.review_threshold,
            previous_clusters=previous_clusters,
        )
    finally:
        connection.close()
    return result, prepared, placed
