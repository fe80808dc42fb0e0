"""Which of a lead's names is the first name: as the base uses them.

`normalize_contacts` turns a name written the other way round ("Wilson Henry") by how likely
each name key is a first name: name tables and surname endings, and how the records with
separate first and last name fields use the key. A nightly run counts every settled record
for the latter (its ``previous`` contacts); a lead alone would be judged by the tables only,
and "Wilson Henry" stays first name "wilson". `NameUsage` keeps, per name key, how many of
the base's records use it as a first and as a last name, and hands `normalize_contacts`
stand-ins for those records, so that a lead is oriented as a nightly run orients a new
record.

The stand-ins carry what the orientation reads of a settled record (its name keys, and
whether its names came from separate fields); keep `stand_ins` in step with
`dedup_pipeline.normalize.contacts` (``_name_usage``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dedup_pipeline.normalize import (
    CONTACT_SCHEMA,
    EMAIL_VALUES_SCHEMA,
    PHONE_VALUES_SCHEMA,
    NormalizedContacts,
)
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA

__all__ = ["NameUsage"]

# Never a name key (keys are transliterated names): the other name of a stand-in.
_OTHER = "\x00"
_STAND_IN_SOURCE = "name-usage"


@dataclass(frozen=True)
class NameUsage:
    """Per name key, the base's records with separate name fields that use it.

    Attributes
    ----------
    counts
        ``key``, ``as_first`` and ``as_last``: records whose first (last) name key it is,
        among records with a first or last name field and both keys.
    """

    counts: pl.DataFrame

    @classmethod
    def read(cls, contacts: Path) -> NameUsage:
        """Count the name keys of a run's contacts (its ``contacts.parquet``)."""
        frame = pl.read_parquet(
            contacts, columns=["first_name", "last_name", "first_name_key", "last_name_key"]
        )
        structured = frame.filter(
            (pl.col("first_name").is_not_null() | pl.col("last_name").is_not_null())
            & pl.col("first_name_key").is_not_null()
            & pl.col("last_name_key").is_not_null()
        )
        as_first = structured.group_by(key="first_name_key").agg(as_first=pl.len())
        as_last = structured.group_by(key="last_name_key").agg(as_last=pl.len())
        counts = (
            as_first.join(as_last, on="key", how="full", coalesce=True).fill_null(0).sort("key")
        )
        return cls(counts=counts)

    def stand_ins(self, keys: Iterable[str]) -> NormalizedContacts | None:
        """Stand-ins for the base's records that use ``keys``, as settled contacts.

        Passed with their records to `normalize_contacts` (``previous``), they are kept
        as they are and count in how the new records' names are oriented. None when no
        record uses the keys.
        """
        used = self.counts.filter(pl.col("key").is_in(list(keys)))
        if used.is_empty() or not (used["as_first"].sum() + used["as_last"].sum()):
            return None
        names = pl.concat(
            [
                used.select(first_name_key=pl.col("key").repeat_by("as_first"), last_name_key=None),
                used.select(first_name_key=None, last_name_key=pl.col("key").repeat_by("as_last")),
            ],
            how="vertical_relaxed",
        )
        names = (
            names.explode("first_name_key")
            .explode("last_name_key")
            .filter(pl.col("first_name_key").is_not_null() | pl.col("last_name_key").is_not_null())
            .with_columns(pl.col("first_name_key", "last_name_key").fill_null(_OTHER))
        )
        empty = pl.lit([], dtype=pl.List(pl.String))
        records = names.select(
            pl.format("{}:{}", pl.lit(_STAND_IN_SOURCE), pl.int_range(pl.len())).alias("record_id"),
            pl.lit(_STAND_IN_SOURCE).alias("source"),
            pl.int_range(pl.len()).cast(pl.String).alias("source_record_id"),
            # A name field: the record's names came from separate fields.
            pl.lit("-").alias("first_name"),
            phones=empty,
            emails=empty,
            attributes=pl.lit("{}"),
            extra=pl.lit("{}"),
        )
        contacts = pl.concat([records, names], how="horizontal")
        contacts = contacts.with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in CONTACT_SCHEMA.items()
            if name not in contacts.columns
        ).with_columns(
            pl.lit([], dtype=pl.List(pl.String)).alias(name)
            for name in ("phones_e164", "phones_invalid", "emails_normalized", "emails_invalid")
        )
        contacts = contacts.select(
            pl.col(name).cast(dtype) for name, dtype in CONTACT_SCHEMA.items()
        )
        return NormalizedContacts(
            contacts=contacts,
            phone_values=pl.DataFrame(schema=PHONE_VALUES_SCHEMA),
            email_values=pl.DataFrame(schema=EMAIL_VALUES_SCHEMA),
            renormalized=0,
        )

    @staticmethod
    def records_of(stand_ins: NormalizedContacts) -> pl.DataFrame:
        """The stand-ins as source records (`SOURCE_RECORD_SCHEMA`)."""
        return stand_ins.contacts.select(list(SOURCE_RECORD_SCHEMA))
