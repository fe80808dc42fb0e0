"""Shared helpers: build source-record tables by hand."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dedup_pipeline.config import PipelineConfig, load_config
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA
from dedup_pipeline.sinks import read_table
from dedup_pipeline.sources import read_source


def source_record(source: str, source_record_id: str, **fields: Any) -> dict[str, Any]:
    """One source record with every canonical field, the given ones filled."""
    record: dict[str, Any] = {name: None for name in SOURCE_RECORD_SCHEMA}
    record.update(
        record_id=f"{source}:{source_record_id}",
        source=source,
        source_record_id=source_record_id,
        source_row=2,
        phones=[],
        emails=[],
        attributes="{}",
        extra="{}",
    )
    for key, value in fields.items():
        if key in ("created_at", "updated_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        record[key] = value
    return record


def records_frame(*records: dict[str, Any]) -> pl.DataFrame:
    """A source-records table from `source_record` dicts."""
    return pl.DataFrame(list(records), schema=SOURCE_RECORD_SCHEMA)


@pytest.fixture
def make_records():
    return records_frame


ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LEADS = ROOT / "data" / "sample" / "webform_leads.jsonl"


def sample_config_in(directory: Path, *, own_leads: bool = False) -> Path:
    """configs/sample.yaml with its outputs (warehouse, decisions) under ``directory``.

    With ``own_leads``, the web-form export is a copy in ``directory``
    (``webform_leads.jsonl``) that a test may edit between runs.
    """
    text = (ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8")
    text = text.replace("../data/sample/", f"{ROOT / 'data' / 'sample'}/").replace(
        "../output/sample", str(directory / "out")
    )
    if own_leads:
        leads = directory / SAMPLE_LEADS.name
        shutil.copy(SAMPLE_LEADS, leads)
        text = text.replace(str(SAMPLE_LEADS), str(leads))
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def warehouse_tables(config_path: Path, *names: str) -> dict[str, pl.DataFrame]:
    """Tables of a run's warehouse by name; the file is closed again (one writer at a time)."""
    config = load_config(config_path)
    connection = connect(config.warehouse, database=config.warehouse.path)
    try:
        return {name: read_table(connection, name) for name in names}
    finally:
        connection.close()


def normalized_sample_contacts(config: PipelineConfig) -> pl.DataFrame:
    """The normalized contacts of every source of ``config``."""
    records = pl.concat(
        [read_source(s).records.select(list(SOURCE_RECORD_SCHEMA)) for s in config.sources]
    )
    regions = {s.name: s.default_region for s in config.sources}
    return normalize_contacts(records, default_regions=regions).contacts
