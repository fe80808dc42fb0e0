"""The data's health: how complete and valid each source is, how many duplicates it
holds, and where its records ended up. Per source and overall; numbers a dashboard can
plot run after run."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dedup_pipeline.review.decide import ReviewWorkload, review_workload
from dedup_pipeline.schema import require_columns

__all__ = ["HEALTH_FIELDS", "DataHealth", "data_health"]

#: The contact fields whose completeness is measured.
HEALTH_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "company",
    "city",
    "phones",
    "emails",
)


@dataclass(frozen=True)
class DataHealth:
    """The health of one run's input.

    Attributes
    ----------
    per_source
        One row per source, then one for all (``source`` = ``"all"``): ``rows`` read,
        ``records`` kept, ``quarantined``, ``flagged`` (records blacklisted or junk,
        kept out of merges); ``<field>_filled`` (share of records with a
        value, `HEALTH_FIELDS`); ``invalid_phone_share`` and ``invalid_email_share`` (of
        the values written); ``duplicate_share`` (records whose client has another record).
    cluster_sizes
        ``records_per_client`` and ``clients``.
    outcomes
        ``outcome``, ``clients`` and ``records``.
    quarantine_reasons
        ``source``, ``reason`` and ``rows``, most frequent first.
    flag_reasons
        ``source``, ``reason`` and ``records`` flagged for it, most frequent first (a
        record flagged for two reasons counts under each).
    review
        The proposals to review and the records in them (`review_workload`), when the
        clusters say which proposal each record is in.
    """

    per_source: pl.DataFrame
    cluster_sizes: pl.DataFrame
    outcomes: pl.DataFrame
    quarantine_reasons: pl.DataFrame
    flag_reasons: pl.DataFrame
    review: ReviewWorkload | None = None

    def overall(self) -> dict[str, float | int]:
        """The ``all`` row as a dict (for plotting across runs)."""
        row = self.per_source.filter(pl.col("source") == "all").row(0, named=True)
        return {k: v for k, v in row.items() if k != "source"}


def _filled(field: str) -> pl.Expr:
    column = pl.col(field)
    if field in ("phones", "emails"):
        return column.list.len().fill_null(0) > 0
    return column.is_not_null() & (column.str.strip_chars() != "")


def _share(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)


def data_health(
    *,
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    quarantine: pl.DataFrame,
    flagged: pl.DataFrame | None = None,
) -> DataHealth:
    """Measure the health of a run's input.

    Parameters
    ----------
    contacts
        Normalised contacts (raw ``phones``/``emails`` with ``phones_invalid`` and
        ``emails_invalid``).
    clusters
        ``record_id``, ``cluster_id``, ``cluster_size`` and ``outcome``.
    quarantine
        Rows that did not become records (`QUARANTINE_SCHEMA`).
    flagged
        Records kept out of merges (`FLAGGED_RECORD_SCHEMA`: ``record_id``, ``source``,
        ``reasons``); none when not given.
    """
    require_columns(
        contacts,
        ["record_id", "source", *HEALTH_FIELDS, "phones_invalid", "emails_invalid"],
        table="contacts",
    )
    require_columns(
        clusters, ["record_id", "cluster_id", "cluster_size", "outcome"], table="clusters"
    )
    require_columns(quarantine, ["source", "reason"], table="quarantine")
    if flagged is None:
        flagged = pl.DataFrame(
            schema={"record_id": pl.String, "source": pl.String, "reasons": pl.List(pl.String)}
        )
    require_columns(flagged, ["record_id", "source", "reasons"], table="flagged records")
    records = contacts.join(
        clusters.select("record_id", "cluster_size"), on="record_id", how="left"
    ).with_columns(
        flagged=pl.col("record_id").is_in(flagged.get_column("record_id").implode()),
        phones_written=pl.col("phones").list.len().fill_null(0),
        phones_bad=pl.col("phones_invalid").list.len().fill_null(0),
        emails_written=pl.col("emails").list.len().fill_null(0),
        emails_bad=pl.col("emails_invalid").list.len().fill_null(0),
        duplicate=pl.col("cluster_size").fill_null(1) > 1,
    )
    measures = [
        pl.len().alias("records"),
        *(_filled(field).mean().alias(f"{field}_filled") for field in HEALTH_FIELDS),
        _share(pl.col("phones_bad").sum(), pl.col("phones_written").sum()).alias(
            "invalid_phone_share"
        ),
        _share(pl.col("emails_bad").sum(), pl.col("emails_written").sum()).alias(
            "invalid_email_share"
        ),
        pl.col("duplicate").mean().alias("duplicate_share"),
        pl.col("flagged").sum().cast(pl.UInt32).alias("flagged"),
    ]
    per_source = pl.concat(
        [
            records.group_by("source").agg(measures).sort("source"),
            records.select(measures).with_columns(source=pl.lit("all")),
        ],
        how="diagonal",
    )
    quarantined = pl.concat(
        [
            quarantine.group_by("source").agg(quarantined=pl.len()),
            pl.DataFrame({"source": ["all"], "quarantined": [quarantine.height]}),
        ],
        how="vertical_relaxed",
    )
    per_source = (
        per_source.join(quarantined, on="source", how="full", coalesce=True)
        .with_columns(
            pl.col("records").fill_null(0).cast(pl.UInt32),
            pl.col("quarantined").fill_null(0).cast(pl.UInt32),
        )
        .with_columns(rows=pl.col("records") + pl.col("quarantined"))
        .select(
            "source",
            "rows",
            "records",
            "quarantined",
            pl.col("flagged").fill_null(0),
            pl.exclude("source", "rows", "records", "quarantined", "flagged"),
        )
        .sort(pl.col("source") == "all", "source")
    )
    clients = clusters.group_by("cluster_id").agg(size=pl.len(), outcome=pl.col("outcome").first())
    cluster_sizes = (
        clients.group_by(records_per_client="size").agg(clients=pl.len()).sort("records_per_client")
    )
    outcomes = (
        clients.group_by("outcome")
        .agg(clients=pl.len(), records=pl.col("size").sum())
        .sort("outcome")
    )
    reasons = (
        quarantine.group_by("source", "reason")
        .agg(rows=pl.len())
        .sort(["rows", "source", "reason"], descending=[True, False, False])
    )
    flag_reasons = (
        flagged.explode("reasons")
        .group_by("source", reason="reasons")
        .agg(records=pl.len().cast(pl.UInt32))
        .sort(["records", "source", "reason"], descending=[True, False, False])
    )
    review = review_workload(clusters) if "review_cluster_id" in clusters.columns else None
    return DataHealth(per_source, cluster_sizes, outcomes, reasons, flag_reasons, review)
