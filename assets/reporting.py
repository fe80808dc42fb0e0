"""File exports and the run report."""

from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output, asset

from assets.health import HEALTH_REPORT_FILE
from assets.resources import DuckDBWarehouse, PipelineSettings
from assets.sources import raw_asset_name
from dedup_pipeline.report import (
    RunReport,
    SourceSummary,
    account_for_records,
    outcome_counts,
)
from dedup_pipeline.sinks import write_exports

__all__ = ["exports", "run_report"]

_EXPORTED = (
    "golden_profiles",
    "clusters",
    "merge_instructions",
    "review_queue",
    "quarantine",
    "value_issues",
    "flagged_records",
    "contacts",
    "scored_pairs",
)


@asset(group_name="outputs", deps=["contacts", "scored_pairs"])
def exports(
    settings: PipelineSettings,
    warehouse: DuckDBWarehouse,
    golden_profiles: pl.DataFrame,
    clusters: pl.DataFrame,
    merge_instructions: pl.DataFrame,
    review_queue: pl.DataFrame,
    quarantine: pl.DataFrame,
    value_issues: pl.DataFrame,
    flagged_records: pl.DataFrame,
) -> Output:
    """Parquet, CSV and JSONL files for people and other systems.

    ``contacts`` and ``scored_pairs`` are exported as Parquet only, copied from the
    warehouse without loading them.
    """
    tables = {
        "golden_profiles": golden_profiles,
        "clusters": clusters,
        "merge_instructions": merge_instructions,
        "review_queue": review_queue,
        "quarantine": quarantine,
        "value_issues": value_issues,
        "flagged_records": flagged_records,
    }
    # The warehouse already holds each table as Parquet: copying beats encoding again.
    written = write_exports(
        tables,
        settings.config.output.directory,
        parquet_copies={name: warehouse.table_path(name) for name in _EXPORTED},
    )
    frame = pl.DataFrame(
        {"export": list(written), "path": [str(path) for path in written.values()]}
    )
    return Output(frame, metadata={"directory": str(settings.config.output.directory)})


def _stage_seconds(context: AssetExecutionContext) -> dict[str, float]:
    stats = context.instance.get_run_step_stats(context.run.run_id)
    return {
        stat.step_key: round(stat.end_time - stat.start_time, 3)
        for stat in stats
        if stat.start_time is not None and stat.end_time is not None
    }


def _previous_sources(settings: PipelineSettings) -> dict[str, dict]:
    path = settings.config.output.directory / "run_report.json"
    if not path.is_file():
        return {}
    previous = RunReport.model_validate_json(path.read_text(encoding="utf-8"))
    return {source.name: source.model_dump() for source in previous.sources}


def _source_summaries(
    context: AssetExecutionContext, settings: PipelineSettings, quarantine: pl.DataFrame
) -> list[SourceSummary]:
    summaries = []
    previous = _previous_sources(settings)
    for source in settings.config.sources:
        event = context.instance.get_latest_materialization_event(AssetKey(raw_asset_name(source)))
        metadata = (
            event.asset_materialization.metadata if event and event.asset_materialization else {}
        )
        # A run that did not read the exports (applying review decisions) reports what the
        # last report says was read; a source known to neither counts 0 rows, so that the
        # accounting fails loudly.
        values = {key: entry.value for key, entry in metadata.items()} or previous.get(
            source.name, {}
        )
        summaries.append(
            SourceSummary(
                name=source.name,
                file=str(source.path),
                rows_read=int(values.get("rows_read", 0)),
                records=int(values.get("records", 0)),
                quarantined=quarantine.filter(pl.col("source") == source.name).height,
                encoding=values.get("encoding") or None,
                delimiter=values.get("delimiter") or None,
            )
        )
    return summaries


def _client_changes(context: AssetExecutionContext) -> dict[str, int]:
    """What the decide stage reported about client ids (``clients_*`` metadata)."""
    event = context.instance.get_latest_materialization_event(AssetKey("clusters"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return {
        key.removeprefix("clients_"): int(entry.value)
        for key, entry in metadata.items()
        if key.startswith("clients_")
    }


def _match_metadata(context: AssetExecutionContext, key: str) -> dict:
    """A JSON entry of the match stage's metadata (the model's files, how it was made)."""
    event = context.instance.get_latest_materialization_event(AssetKey("scored_pairs"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    entry = metadata.get(key)
    return dict(entry.value) if entry is not None else {}


#: One row per run, newest last: the run history kept in the warehouse.
RUN_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "mode": pl.String(),
    "finished_at": pl.Datetime("us", "UTC"),
    "records_in": pl.Int64(),
    "clusters": pl.Int64(),
    "merge_instructions": pl.Int64(),
    "report_json": pl.String(),
}


def _run_history(warehouse: DuckDBWarehouse) -> pl.DataFrame:
    """The runs recorded so far (this asset's table, read before this run replaces it)."""
    previous = warehouse.read_tables("run_report").get("run_report")
    if previous is None:
        return pl.DataFrame(schema=RUN_HISTORY_SCHEMA)
    if set(RUN_HISTORY_SCHEMA) - set(previous.columns):
        # A table from before the history was kept: its one run, with what it recorded.
        reports = [RunReport.model_validate_json(text) for text in previous["report_json"]]
        previous = pl.DataFrame([_history_row(report) for report in reports])
    # The warehouse does not keep insertion order (it is set not to, for memory).
    return (
        previous.select(list(RUN_HISTORY_SCHEMA))
        .cast(RUN_HISTORY_SCHEMA)  # type: ignore[arg-type]
        .sort("finished_at", maintain_order=True)
    )


def _history_row(report: RunReport) -> dict:
    return {
        "run_id": report.run_id,
        "mode": report.mode,
        "finished_at": report.finished_at,
        "records_in": report.accounting.records_in,
        "clusters": report.clusters,
        "merge_instructions": report.merge_instructions,
        "report_json": report.model_dump_json(),
    }


# After data_health: the report links the health report that asset writes.
@asset(group_name="outputs", deps=["data_health"])
def run_report(
    context: AssetExecutionContext,
    settings: PipelineSettings,
    warehouse: DuckDBWarehouse,
    clusters: pl.DataFrame,
    review_queue: pl.DataFrame,
    quarantine: pl.DataFrame,
    golden_profiles: pl.DataFrame,
    merge_instructions: pl.DataFrame,
    scored_pairs: pl.DataFrame,
    value_issues: pl.DataFrame,
    client_id_events: pl.DataFrame,
    flagged_records: pl.DataFrame,
    exports: pl.DataFrame,
) -> Output:
    """Where every input record went, the outcomes, stage timings and output paths."""
    config = settings.config
    sources = _source_summaries(context, settings, quarantine)
    accounting = account_for_records(sources, clusters, quarantine)
    stats = _stage_seconds(context)
    report_path = config.output.directory / "run_report.json"
    outputs = dict(zip(exports.get_column("export"), exports.get_column("path"), strict=True))
    outputs.update(_match_metadata(context, "model_outputs"))
    outputs["health_report.html"] = str(config.output.directory / HEALTH_REPORT_FILE)
    outputs["warehouse"] = str(config.warehouse.path)
    outputs["run_report.json"] = str(report_path)
    report = RunReport(
        run_id=context.run.run_id,
        mode=settings.mode,
        config_path=settings.config_path,
        finished_at=datetime.now(UTC),
        sources=sources,
        accounting=accounting,
        golden_profiles=golden_profiles.height,
        profiles_with_time_zone=int(golden_profiles["time_zone"].is_not_null().sum())
        if "time_zone" in golden_profiles.columns
        else 0,
        value_issues=value_issues.height,
        merge_instructions=merge_instructions.height,
        scored_pairs=scored_pairs.height,
        client_id_events=dict(
            client_id_events.filter(pl.col("run_id") == context.run.run_id)
            .group_by("event")
            .len()
            .sort("event")
            .iter_rows()
        ),
        client_changes=_client_changes(context),
        flag_reasons=dict(
            flagged_records.explode("reasons").group_by("reasons").len().sort("reasons").iter_rows()
        ),
        stage_seconds=stats,
        outputs=outputs,
        model=_match_metadata(context, "model_training"),
        # The queue is an input so the report follows it; its size is read from clusters.
        **outcome_counts(clusters),
    )
    report.write(report_path)
    history = pl.concat(
        [
            _run_history(warehouse),
            pl.DataFrame([_history_row(report)]).cast(RUN_HISTORY_SCHEMA),  # type: ignore[arg-type]
        ]
    )
    return Output(
        history,
        metadata={
            "runs_recorded": history.height,
            "records_in": accounting.records_in,
            "quarantined": accounting.quarantined,
            "clusters": report.clusters,
            "auto_merged_clusters": report.clusters_auto_merged,
            "review_clusters": report.clusters_to_review,
            "records_flagged": report.records_flagged,
            "report": MetadataValue.path(str(report_path)),
        },
    )
