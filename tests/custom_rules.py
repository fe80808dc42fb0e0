"""Custom survivorship rules the tests name in their configurations."""

import polars as pl


def prefer_web_form(candidates: pl.DataFrame) -> pl.DataFrame:
    """The value a web-form lead typed, where the client has one (the lead is what the
    client wrote about themselves)."""
    return (
        candidates.filter(pl.col("source") == "webform")
        .sort("recency", descending=True)
        .group_by("cluster_id", maintain_order=True)
        .first()
        .select("cluster_id", "record_id")
    )


def two_per_client(candidates: pl.DataFrame) -> pl.DataFrame:
    """A broken rule: every candidate."""
    return candidates.select("cluster_id", "record_id")
