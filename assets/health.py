"""The data's health, per source and overall, as a table and as numbers Dagster plots
across runs."""

import polars as pl
from dagster import Output, asset

from assets.metadata import markdown_table
from dedup_pipeline.health import data_health as measure_health

__all__ = ["data_health"]


@asset(group_name="reporting")
def data_health(contacts: pl.DataFrame, clusters: pl.DataFrame, quarantine: pl.DataFrame) -> Output:
    """Completeness and validity of each source, its duplicate share, where records went."""
    health = measure_health(contacts=contacts, clusters=clusters, quarantine=quarantine)
    rounded = health.per_source.with_columns(pl.selectors.float().round(3))
    overall = {
        name: round(value, 4) if isinstance(value, float) else value
        for name, value in health.overall().items()
        if value is not None
    }
    return Output(
        health.per_source,
        metadata={
            **overall,
            "per_source": markdown_table(rounded),
            "records_per_client": markdown_table(health.cluster_sizes),
            "outcomes": markdown_table(health.outcomes),
            "quarantine_reasons": markdown_table(health.quarantine_reasons, limit=10),
        },
    )
