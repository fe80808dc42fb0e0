"""Run the asset graph in process: what `dedup run` and the tests call.

The CLI does not orchestrate anything itself; it executes the same `full_sweep` job that
Dagster schedules, so there is one definition of the flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dagster import DagsterInstance, LoggerDefinition, logger

from assets.definitions import FULL_SWEEP_JOB, build_definitions
from dedup_pipeline.config import load_config
from dedup_pipeline.report import RunReport

__all__ = ["RunFailedError", "StepEvent", "run_full_sweep"]


class RunFailedError(RuntimeError):
    """A step of the run failed; the message carries the step and its error."""


def _root_cause(error) -> str:
    """The message of the error that started it all, without Dagster's wrappers."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


@dataclass(frozen=True)
class StepEvent:
    """A step started, succeeded or failed."""

    step: str
    status: str  # "started" | "succeeded" | "failed"


_STATUS = {"STEP_START": "started", "STEP_SUCCESS": "succeeded", "STEP_FAILURE": "failed"}


class _StepEventHandler(logging.Handler):
    def __init__(self, callback: Callable[[StepEvent], None]) -> None:
        super().__init__()
        self._callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        # Dagster attaches its event to each record as the ``dagster_meta`` dict.
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if event is None or event.event_type_value not in _STATUS:
            return
        self._callback(StepEvent(step=event.step_key or "", status=_STATUS[event.event_type_value]))


def _not_a_dagster_event(record: logging.LogRecord) -> bool:
    # Errors end the run and are reported once by the caller, from the failed step's cause.
    meta = getattr(record, "dagster_meta", None) or {}
    return meta.get("dagster_event") is None and record.levelno < logging.ERROR


def _progress_logger(on_step: Callable[[StepEvent], None] | None) -> LoggerDefinition:
    """A Dagster logger that reports step events and prints only warnings and errors."""

    @logger(description="Step progress for the CLI; warnings and errors to stderr.")
    def progress(_init_context) -> logging.Logger:
        python_logger = logging.getLogger("lead_dedup.run")
        python_logger.setLevel(logging.DEBUG)
        python_logger.propagate = False
        python_logger.handlers.clear()
        errors = logging.StreamHandler()
        errors.setLevel(logging.WARNING)
        # Only warnings the steps themselves log are shown: a failure (with Dagster's
        # stack, and every step skipped after it) is summed up by the caller.
        errors.addFilter(_not_a_dagster_event)
        errors.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        python_logger.addHandler(errors)
        if on_step is not None:
            python_logger.addHandler(_StepEventHandler(on_step))
        return python_logger

    return progress


def run_full_sweep(
    config_path: str | Path,
    *,
    on_step: Callable[[StepEvent], None] | None = None,
    model_path: str | Path | None = None,
    mode: Literal["full", "incremental"] = "full",
) -> RunReport:
    """Materialise every asset for ``config_path`` and return the run report.

    ``model_path`` names a saved ``splink_model.json`` to reuse instead of training; it
    overrides ``match.model`` of the configuration for this run. ``mode="incremental"``
    places only new and changed records among the last run's, with its model (what the
    nightly job does); the default retrains and re-matches everything.

    Raises
    ------
    RunFailedError
        When any step or asset check fails.
    """
    config = load_config(config_path)
    definitions = build_definitions(config_path, loggers={"progress": _progress_logger(on_step)})
    job = definitions.resolve_job_def(FULL_SWEEP_JOB)
    # Naming the logger in run config makes Dagster use it instead of its console one.
    run_config: dict = {"loggers": {"progress": {}}}
    # Configuring the resource in run config replaces its values: give them all.
    settings: dict = {"config_path": str(Path(config_path).resolve()), "mode": mode}
    if model_path is not None:
        settings["model_path"] = str(Path(model_path).resolve())
    run_config["resources"] = {"settings": {"config": settings}}
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config
        )
    if not result.success:
        failures = [
            f"{event.step_key}: {_root_cause(event.step_failure_data.error)}"
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error
        ]
        raise RunFailedError("run failed\n" + "\n".join(failures or ["(no step error recorded)"]))
    failed_checks = [
        evaluation.check_name
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    ]
    if failed_checks:
        raise RunFailedError("asset checks failed: " + ", ".join(sorted(failed_checks)))
    report_path = config.output.directory / "run_report.json"
    return RunReport.model_validate_json(report_path.read_text(encoding="utf-8"))
