"""Fingerprints that tell a nightly run an export is the one it read last time."""

from __future__ import annotations

import hashlib

import polars as pl

from dedup_pipeline.config import SourceConfig

__all__ = ["export_fingerprint", "tables_fingerprint"]


def export_fingerprint(source: SourceConfig) -> str:
    """SHA-256 of the export's bytes and of how it is read (format, mapping, regions).

    Equal fingerprints read into equal records, so the records need not be read again.
    """
    digest = hashlib.sha256(source.model_dump_json().encode("utf-8"))
    with source.path.open("rb") as file:
        digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def tables_fingerprint(*tables: pl.DataFrame) -> str:
    """A hash of tables' rows, to check stored tables are the ones a fingerprint went with.

    polars' row hashes are stable within a polars version; after an upgrade the check
    fails once and the export is read again.
    """
    parts = [str(table.hash_rows(seed=5).sort().implode().hash(seed=5).item()) for table in tables]
    return hashlib.sha256("|".join(parts).encode("ascii")).hexdigest()
