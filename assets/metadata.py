"""Asset metadata helpers."""

import polars as pl
from dagster import MetadataValue

__all__ = ["markdown_table"]


def markdown_table(frame: pl.DataFrame, limit: int = 20) -> MetadataValue:
    """The first ``limit`` rows of ``frame`` as a Markdown table, for the Dagster UI."""
    head = frame.head(limit)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * head.width]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in head.iter_rows()]
    return MetadataValue.md("\n".join(lines))
