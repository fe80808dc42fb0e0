"""Dagster definitions for lead-dedup: thin assets over the `dedup_pipeline` library."""
