"""Shared helpers: build source-record tables by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA


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


def sample_config_in(directory: Path) -> Path:
    """configs/sample.yaml with its outputs (warehouse, decisions) under ``directory``."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "configs" / "sample.yaml").read_text(encoding="utf-8")
    text = text.replace("../data/sample/", f"{root / 'data' / 'sample'}/").replace(
        "../output/sample", str(directory / "out")
    )
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
