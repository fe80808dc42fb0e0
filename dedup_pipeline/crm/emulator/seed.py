"""Fill an emulated CRM from a contact export, with deals to show that merges keep them."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from datetime import UTC, datetime

import polars as pl

from dedup_pipeline.config import SourceConfig
from dedup_pipeline.crm.emulator.state import SINGLE_VALUED_FIELDS, CrmState
from dedup_pipeline.sources import read_source

__all__ = ["seed_from_records", "seed_from_source"]


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def seed_from_records(
    records: pl.DataFrame,
    *,
    fields: Collection[str] = SINGLE_VALUED_FIELDS,
    state: CrmState | None = None,
) -> CrmState:
    """A `CrmState` holding one contact per source record, under its source record id.

    Parameters
    ----------
    records
        Source records (`SOURCE_RECORD_SCHEMA`); ``source_record_id`` must be an integer,
        as CRM ids are. Phones and e-mails are stored as written in the export.
    fields
        The single-valued fields the CRM's protocol carries (the others stay empty, so
        that a strict merge cannot conflict on a value no client can see).
    state
        The state to add to (a new one when omitted).

    Each contact gets zero, one or two deals, chosen by a checksum of its id so that the
    same export always gives the same deals.
    """
    state = state if state is not None else CrmState()
    kept = [name for name in SINGLE_VALUED_FIELDS if name in fields]
    # Seeding builds an in-memory dict store, one Python object per contact by nature.
    ordered = records.sort(pl.col("source_record_id").cast(pl.Int64))
    for row in ordered.iter_rows(named=True):
        contact_id = int(row["source_record_id"])
        state.add_contact(
            id=contact_id,
            **{name: row[name] for name in kept},
            phones=row["phones"] or (),
            emails=row["emails"] or (),
            created_at=_aware(row["created_at"]),
            updated_at=_aware(row["updated_at"]) or _aware(row["created_at"]),
        )
        for number in range(zlib.crc32(str(contact_id).encode()) % 3):
            state.add_deal(f"Deal {number + 1} of contact {contact_id}", (contact_id,))
    return state


def seed_from_source(
    source: SourceConfig,
    *,
    fields: Collection[str] = SINGLE_VALUED_FIELDS,
    state: CrmState | None = None,
) -> CrmState:
    """A `CrmState` seeded from the export ``source`` names (rows it cannot read are left
    out, as the pipeline quarantines them)."""
    return seed_from_records(read_source(source).records, fields=fields, state=state)
