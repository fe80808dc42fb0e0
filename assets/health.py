"""The data's health, per source and overall: a table, numbers Dagster plots across runs,
and a self-contained HTML report in the output directory."""

from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.metadata import markdown_table
from assets.resources import PipelineSettings
from dedup_pipeline.health import data_health as measure_health
from dedup_pipeline.health_report import write_health_report

__all__ = ["HEALTH_REPORT_FILE", "data_health"]

#: The report's file name in ``output.directory``.
HEALTH_REPORT_FILE = "health_report.html"


@asset(group_name="reporting")
def data_health(
    context: AssetExecutionContext,
    settings: PipelineSettings,
    contacts: pl.DataFrame,
    clusters: pl.DataFrame,
    quarantine: pl.DataFrame,
    flagged_records: pl.DataFrame,
) -> Output:
    """Completeness and validity of each source, its duplicate share, where records went.

    Also writes the run's data-health report, ``health_report.html`` in the output
    directory (self-contained: it opens offline).
    """
    health = measure_health(
        contacts=contacts, clusters=clusters, quarantine=quarantine, flagged=flagged_records
    )
    report = write_health_report(
        health,
        settings.config.output.directory / HEALTH_REPORT_FILE,
        title="Data health report",
        generated_at=datetime.now(UTC).replace(microsecond=0),
        run_mode=settings.mode,
        run_id=context.run.run_id,
    )
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
            "flag_reasons": markdown_table(health.flag_reasons, limit=10),
            "report": MetadataValue.path(str(report)),
        },
    )
