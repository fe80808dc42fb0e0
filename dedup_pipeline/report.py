"""The run report: what came in, where every record went, how long each stage took."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from dedup_pipeline.review.decide import Outcome, review_workload

__all__ = [
    "AccountingError",
    "RecordAccounting",
    "RunReport",
    "SourceSummary",
    "account_for_records",
    "outcome_counts",
]


class AccountingError(RuntimeError):
    """Some input record is neither in a cluster nor in quarantine, or is in both."""


class SourceSummary(BaseModel):
    """One source export as read."""

    name: str
    file: str
    rows_read: int
    records: int
    quarantined: int
    encoding: str | None = None
    delimiter: str | None = None


class RecordAccounting(BaseModel):
    """Proof that every input record is accounted for."""

    records_in: int = Field(description="Data rows read from all sources.")
    records_clustered: int = Field(description="Records placed in exactly one client cluster.")
    quarantined: int = Field(description="Rows that could not become records.")
    balanced: bool = Field(description="records_in == records_clustered + quarantined.")


class RunReport(BaseModel):
    """Summary of a run, written as ``run_report.json``."""

    run_id: str
    mode: str = Field(default="full", description="full sweep or incremental (nightly) run.")
    config_path: str
    started_at: datetime | None = None
    finished_at: datetime
    sources: list[SourceSummary]
    accounting: RecordAccounting
    clusters: int
    clusters_auto_merged: int
    clusters_approved: int = 0
    records_auto_merged: int
    clusters_to_review: int = Field(
        description="Review proposals waiting for a person (`review_workload`), each one "
        "decision; the review queue has one row per proposal."
    )
    records_to_review: int = Field(description="Records in those proposals.")

    records_kept_apart: int
    records_flagged: int = Field(
        default=0, description="Blacklisted or junk records, each kept out of merges."
    )
    flag_reasons: dict[str, int] = Field(
        default_factory=dict, description="Flagged records per reason (blacklisted_phone, junk…)."
    )
    golden_profiles: int
    profiles_with_time_zone: int = Field(
        default=0,
        description="Golden profiles with a local time zone from their phones (more with "
        "the numbering plan loaded: `dedup numbering-plan load`).",
    )

    value_issues: int = Field(
        default=0, description="Unusable values in kept records (e.g. bad timestamps)."
    )
    merge_instructions: int
    scored_pairs: int
    client_id_events: dict[str, int] = Field(
        default_factory=dict,
        description="Client id events of this run: created, split, merged, retired.",
    )
    client_changes: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "This run's clients against the last run's: unchanged, changed (same id, records "
            "joined or left), merged, split, created; retired and redirected ids."
        ),
    )
    stage_seconds: dict[str, float]
    outputs: dict[str, str]
    model: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "How the model that scored the run was made: source (trained, default or "
            "reused), the reason for the default model, and the levels whose u was counted "
            "or bounded and whose m came from the default model or was raised to the floor."
        ),
    )

    def write(self, path: Path) -> Path:
        """Write the report as pretty JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        return path


def account_for_records(
    sources: list[SourceSummary], clusters: pl.DataFrame, quarantine: pl.DataFrame
) -> RecordAccounting:
    """Check that input rows = records in clusters + quarantined rows.

    Raises
    ------
    AccountingError
        When a record sits in two clusters, or the totals do not balance.
    """
    records_in = sum(source.rows_read for source in sources)
    duplicated = clusters.get_column("record_id").is_duplicated().sum()
    if duplicated:
        raise AccountingError(f"{duplicated} record(s) appear in more than one cluster")
    accounting = RecordAccounting(
        records_in=records_in,
        records_clustered=clusters.height,
        quarantined=quarantine.height,
        balanced=records_in == clusters.height + quarantine.height,
    )
    if not accounting.balanced:
        raise AccountingError(
            f"{records_in} rows read but {clusters.height} clustered + "
            f"{quarantine.height} quarantined"
        )
    return accounting


def outcome_counts(clusters: pl.DataFrame) -> dict[str, int]:
    """Cluster and record counts per outcome, for the report and the CLI summary.

    ``clusters_to_review`` and ``records_to_review`` are the run's `review_workload`:
    review proposals and the records in them.
    """

    per_cluster = clusters.unique("cluster_id")
    workload = review_workload(clusters)
    return {
        "clusters": per_cluster.height,
        "clusters_auto_merged": per_cluster.filter(pl.col("outcome") == Outcome.AUTO_MERGE).height,
        "records_auto_merged": clusters.filter(pl.col("outcome") == Outcome.AUTO_MERGE).height,
        "clusters_approved": per_cluster.filter(pl.col("outcome") == Outcome.APPROVED).height,
        "clusters_to_review": workload.proposals,
        "records_to_review": workload.records,
        "records_kept_apart": clusters.filter(pl.col("outcome") == Outcome.KEEP_APART).height,
        "records_flagged": clusters.filter(pl.col("outcome") == Outcome.FLAGGED).height,
    }
