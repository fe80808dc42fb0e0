"""Sources stage: read CSV, XLSX, Parquet, JSON and JSONL exports into source records."""

from dedup_pipeline.sources.base import ISSUE_SCHEMA, SourceError, SourceReadResult
from dedup_pipeline.sources.read import read_source

__all__ = ["ISSUE_SCHEMA", "SourceError", "SourceReadResult", "read_source"]
