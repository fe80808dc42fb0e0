"""Custom survivorship rules: name one in a configuration as
``{rule: custom, function: custom_rules.py:<function>}`` (read next to the configuration).

A rule receives the candidate values of one golden field for every client at once (a
polars DataFrame: ``cluster_id``, ``record_id``, ``source``, ``value``, ``key``,
``recency``, ``age``, ``completeness``, ``source_rank``, ``frequency``, ``known``,
``tidy``, ``trust``) and returns ``cluster_id`` and ``record_id`` of the value each client
keeps. A client it leaves out falls back to the tie-breaks (source priority, the latest
update).
"""

import polars as pl


def city_of_latest_lead(candidates: pl.DataFrame) -> pl.DataFrame:
    """The city the client's latest web-form lead gave: where they are now, which a
    sales team calls by, over what a CRM card was once told."""
    return (
        candidates.filter(pl.col("source") == "webform")
        .sort("recency", descending=True, nulls_last=True)
        .group_by("cluster_id", maintain_order=True)
        .first()
        .select("cluster_id", "record_id")
    )
