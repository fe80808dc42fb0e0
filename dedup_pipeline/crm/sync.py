"""Pull every CRM source of a configuration, or push its merge instructions to them.

These are what ``dedup pull`` and ``dedup push`` run. Both open the warehouse file, where
the push ledger lives, so neither may run while a ``dedup run`` writes it (DuckDB allows
one writing process per file).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import httpx
import polars as pl

from dedup_pipeline.config import PipelineConfig, SourceConfig
from dedup_pipeline.crm.connect import open_connector
from dedup_pipeline.crm.connector import CrmConnector
from dedup_pipeline.crm.ledger import PushLedger
from dedup_pipeline.crm.pull import PullReport, pull_source
from dedup_pipeline.crm.push import PushReport, push_instructions
from dedup_pipeline.crm.undo import UndoReport, UndoSelection, undo_pushes
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.sinks.warehouse import read_table, table_directory, table_exists

__all__ = [
    "crm_sources",
    "ledger_entries",
    "pull_crm_sources",
    "push_crm_sources",
    "push_plan_path",
    "undo_crm_sources",
    "write_push_plan",
]


def crm_sources(config: PipelineConfig, names: Collection[str] = ()) -> list[SourceConfig]:
    """The sources with a ``crm`` block (only ``names`` when given).

    Raises
    ------
    ValueError
        When a name is not a CRM source of the configuration.
    """
    crms = [source for source in config.sources if source.crm is not None]
    unknown = set(names) - {source.name for source in crms}
    if unknown:
        raise ValueError(
            f"not a CRM source of the configuration: {', '.join(sorted(unknown))} "
            f"(CRM sources: {', '.join(s.name for s in crms) or 'none'})"
        )
    return [source for source in crms if not names or source.name in names]


def pull_crm_sources(
    config: PipelineConfig,
    *,
    full: bool = False,
    names: Collection[str] = (),
    client: httpx.Client | None = None,
) -> list[PullReport]:
    """Pull each CRM source into its export file; see `pull_source`."""
    reports = []
    with connect(config.warehouse, database=config.warehouse.path) as connection:
        ledger = PushLedger(connection)
        for source in crm_sources(config, names):
            connector = open_connector(source, client=client)
            try:
                merged_away = ledger.merged_away(source.name)
                reports.append(pull_source(source, connector, full=full, merged_away=merged_away))
            finally:
                connector.close()
    return reports


def _merge_targets(
    config: PipelineConfig, names: Collection[str], client: httpx.Client | None
) -> Iterator[tuple[SourceConfig, CrmConnector]]:
    """Each CRM source that is a merge target, with its connector (closed after use)."""
    for source in crm_sources(config, names):
        if not source.merge_target:
            continue
        connector = open_connector(source, client=client)
        try:
            yield source, connector
        finally:
            connector.close()


def push_crm_sources(
    config: PipelineConfig,
    *,
    apply: bool = False,
    names: Collection[str] = (),
    client: httpx.Client | None = None,
    progress: Callable[[PushReport], None] | None = None,
) -> list[PushReport]:
    """Push the last run's merge instructions to each CRM source that is a merge target.

    A dry run (``apply=False``) writes the requests it would send to
    ``push_plan_<source>.jsonl`` in the output directory.

    Raises
    ------
    FileNotFoundError
        When the warehouse holds no merge instructions (no run yet).
    """
    database = config.warehouse.path
    reports = []
    with connect(config.warehouse, database=database) as connection:
        if not table_exists(connection, "merge_instructions"):
            raise FileNotFoundError(
                f"{database} holds no merge instructions: run `dedup run` first"
            )
        instructions = read_table(
            connection, "merge_instructions", directory=table_directory(database)
        )
        ledger = PushLedger(connection)
        for source, connector in _merge_targets(config, names, client):
            report = push_instructions(
                instructions,
                source=source.name,
                connector=connector,
                ledger=ledger,
                apply=apply,
                progress=progress,
            )
            if not apply:
                write_push_plan(push_plan_path(config, source.name), report)
            reports.append(report)
    return reports


def undo_crm_sources(
    config: PipelineConfig,
    *,
    selection: UndoSelection,
    apply: bool = False,
    names: Collection[str] = (),
    client: httpx.Client | None = None,
) -> list[UndoReport]:
    """Take back pushed merges in each CRM source (see `undo_pushes`); a dry run unless
    ``apply``."""
    reports = []
    with connect(config.warehouse, database=config.warehouse.path) as connection:
        ledger = PushLedger(connection)
        for source, connector in _merge_targets(config, names, client):
            report = undo_pushes(
                ledger,
                source=source.name,
                connector=connector,
                selection=selection,
                region=source.default_region,
                apply=apply,
            )
            reports.append(report)
    return reports


def push_plan_path(config: PipelineConfig, source: str) -> Path:
    """Where a dry run writes the requests it would send to ``source``."""
    return config.output.directory / f"push_plan_{source}.jsonl"


def write_push_plan(path: Path, report: PushReport) -> None:
    """Write a dry run's planned requests, one instruction per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(entry, ensure_ascii=False, default=str) for entry in report.planned]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def ledger_entries(config: PipelineConfig) -> pl.DataFrame:
    """The push ledger of the configuration's warehouse."""
    with connect(config.warehouse, database=config.warehouse.path) as connection:
        return PushLedger(connection).entries()
