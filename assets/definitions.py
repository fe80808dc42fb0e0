"""The Dagster definitions of lead-dedup, built from a pipeline configuration.

``dagster dev -w workspace.yaml`` loads `defs` from the configuration named by the
``DEDUP_CONFIG`` environment variable (``configs/sample.yaml`` by default).
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    LoggerDefinition,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from assets.checks import CHECKS
from assets.crm import CrmAccounts, build_crm_assets
from assets.enrichment import email_enrichment, phone_enrichment
from assets.health import data_health
from assets.io_manager import WarehouseIOManager
from assets.pipeline import build_pipeline_assets
from assets.reporting import exports, run_report
from assets.resources import DuckDBWarehouse, PipelineSettings, ReviewStore
from assets.screening import flagged_records
from assets.sensors import apply_review_decisions_job, new_review_decisions
from assets.sources import build_source_assets
from dedup_pipeline.config import load_config

__all__ = ["FULL_SWEEP_JOB", "NIGHTLY_JOB", "build_definitions", "defs"]

FULL_SWEEP_JOB = "full_sweep"
NIGHTLY_JOB = "nightly_incremental"
#: Every night at 02:00; the semiannual sweep on 1 January and 1 July at 03:00.
NIGHTLY_CRON = "0 2 * * *"
SEMIANNUAL_CRON = "0 3 1 1,7 *"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample.yaml"


def build_definitions(
    config_path: str | Path, *, loggers: dict[str, LoggerDefinition] | None = None
) -> Definitions:
    """Build assets, checks, resources and the full-sweep job for one configuration.

    ``loggers`` replaces Dagster's console logger (the CLI shows its own progress).
    """
    config_path = Path(config_path).resolve()
    config = load_config(config_path)
    warehouse = DuckDBWarehouse.from_config(config.warehouse)
    assets = [
        *build_crm_assets(config.sources),
        *build_source_assets(config.sources),
        *build_pipeline_assets(config),
        flagged_records,
        phone_enrichment,
        email_enrichment,
        data_health,
        exports,
        run_report,
    ]
    full_sweep = define_asset_job(
        FULL_SWEEP_JOB,
        selection=AssetSelection.all(),
        description="Read every export, retrain the model, match all contacts, reconcile "
        "client ids and rebuild every output.",
    )
    nightly = define_asset_job(
        NIGHTLY_JOB,
        selection=AssetSelection.all(),
        description="Read every export and place only new and changed records, with the "
        "last full sweep's model; client ids carry over.",
        config={
            "resources": {
                "settings": {"config": {"config_path": str(config_path), "mode": "incremental"}}
            }
        },
    )
    schedules = [
        ScheduleDefinition(
            name="nightly_incremental_schedule",
            job=nightly,
            cron_schedule=NIGHTLY_CRON,
            default_status=DefaultScheduleStatus.STOPPED,
            description="Every night: place the day's new and changed contacts.",
        ),
        ScheduleDefinition(
            name="semiannual_full_sweep_schedule",
            job=full_sweep,
            cron_schedule=SEMIANNUAL_CRON,
            default_status=DefaultScheduleStatus.STOPPED,
            description="1 January and 1 July: retrain and sweep the whole base.",
        ),
    ]
    return Definitions(
        assets=assets,
        asset_checks=CHECKS,
        jobs=[full_sweep, nightly, apply_review_decisions_job],
        schedules=schedules,
        sensors=[new_review_decisions],
        resources={
            "settings": PipelineSettings(config_path=str(config_path)),
            "warehouse": warehouse,
            "review_store": ReviewStore(url=config.review.url),
            "crm": CrmAccounts(),
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
        # One process owns the warehouse file for the whole run (DuckDB allows one writer).
        executor=in_process_executor,
        loggers=loggers,
    )


defs = build_definitions(os.environ.get("DEDUP_CONFIG", DEFAULT_CONFIG))
