"""The normalize stage: source records in, contacts with match-ready fields out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dedup_pipeline.normalize.emails import EMAIL_VALUES_SCHEMA, normalize_email_values
from dedup_pipeline.normalize.names import parse_names
from dedup_pipeline.normalize.nicknames import first_name_variants
from dedup_pipeline.normalize.phones import PHONE_VALUES_SCHEMA, normalize_phone_values
from dedup_pipeline.normalize.places import city_key
from dedup_pipeline.normalize.text import (
    normalize_company,
    normalize_name,
    normalize_text,
)
from dedup_pipeline.schema import CONTACT_TEXT_FIELDS, SOURCE_RECORD_SCHEMA, require_columns

__all__ = ["CONTACT_SCHEMA", "NORMALIZATION_INPUTS", "NormalizedContacts", "normalize_contacts"]

_LIST = pl.List(pl.String())

#: Source records plus the normalised, match-ready columns.
CONTACT_SCHEMA: dict[str, pl.DataType] = {
    **SOURCE_RECORD_SCHEMA,
    "first_name_norm": pl.String(),
    "middle_name_norm": pl.String(),
    "last_name_norm": pl.String(),
    "full_name_norm": pl.String(),
    "first_name_key": pl.String(),
    "middle_name_key": pl.String(),
    "last_name_key": pl.String(),
    "name_initials": pl.String(),
    "name_gender": pl.String(),
    "first_name_variants": _LIST,
    "company_norm": pl.String(),
    "city_norm": pl.String(),
    "city_key": pl.String(),
    "phones_e164": _LIST,
    "phones_invalid": _LIST,
    "emails_normalized": _LIST,
    "emails_invalid": _LIST,
}


#: The source-record columns normalisation reads. A record whose values here are unchanged
#: since the last run keeps its normalised columns; the others pass through as they are.
NORMALIZATION_INPUTS: tuple[str, ...] = ("source", *CONTACT_TEXT_FIELDS, "phones", "emails")

_NORMALIZED_COLUMNS = [name for name in CONTACT_SCHEMA if name not in SOURCE_RECORD_SCHEMA]


@dataclass(frozen=True)
class NormalizedContacts:
    """Output of `normalize_contacts`.

    Attributes
    ----------
    contacts
        One row per source record, with `CONTACT_SCHEMA`.
    phone_values
        Every distinct raw phone with its parse result (`PHONE_VALUES_SCHEMA`).
    email_values
        Every distinct raw e-mail with its validation result (`EMAIL_VALUES_SCHEMA`).
    renormalized
        How many records were normalised by this call; the others (when the last run's
        contacts were given) kept their normalised columns.
    """

    contacts: pl.DataFrame
    phone_values: pl.DataFrame
    email_values: pl.DataFrame
    renormalized: int


def _list_or_empty(column: str) -> pl.Expr:
    return pl.col(column).fill_null(pl.lit([], dtype=_LIST))


def _parsed(
    wanted: pl.DataFrame, known: pl.DataFrame | None, key: list[str], parse
) -> pl.DataFrame:
    """Parse results of the distinct ``wanted`` values; those in ``known`` (the last run's
    values) are looked up rather than parsed again."""
    wanted = wanted.unique()
    if known is None:
        return parse(wanted)
    found = known.join(wanted, on=key, how="semi")
    missing = wanted.join(found, on=key, how="anti")
    return pl.concat([found, parse(missing)]) if missing.height else found


def _phones(
    records: pl.DataFrame,
    regions: Mapping[str, str],
    default_region: str,
    known: pl.DataFrame | None = None,
):
    region_of = pl.DataFrame(
        {"source": list(regions), "region": list(regions.values())},
        schema={"source": pl.String, "region": pl.String},
    )
    exploded = (
        records.select("record_id", "source", "phones")
        .explode("phones")
        .rename({"phones": "phone_raw"})
        .drop_nulls("phone_raw")
        .with_row_index("position")
        .join(region_of, on="source", how="left")
        .with_columns(pl.col("region").fill_null(default_region))
    )
    if exploded.is_empty():
        values = pl.DataFrame(schema=PHONE_VALUES_SCHEMA)
    else:
        values = _parsed(
            exploded.select("phone_raw", "region"),
            known,
            ["phone_raw", "region"],
            normalize_phone_values,
        )
    parsed = exploded.join(values, on=["phone_raw", "region"], how="left").sort("position")
    per_record = parsed.group_by("record_id").agg(
        phones_e164=pl.col("phone_e164").filter(pl.col("phone_valid")).unique(maintain_order=True),
        phones_invalid=pl.col("phone_raw").filter(~pl.col("phone_valid")),
    )
    return per_record, values


def _emails(records: pl.DataFrame, known: pl.DataFrame | None = None):
    exploded = (
        records.select("record_id", "emails")
        .explode("emails")
        .rename({"emails": "email_raw"})
        .drop_nulls("email_raw")
        .with_row_index("position")
    )
    if exploded.is_empty():
        values = pl.DataFrame(schema=EMAIL_VALUES_SCHEMA)
    else:
        values = _parsed(
            exploded.select("email_raw"),
            known,
            ["email_raw"],
            lambda wanted: normalize_email_values(wanted.get_column("email_raw")),
        )
    parsed = exploded.join(values, on="email_raw", how="left").sort("position")
    per_record = parsed.group_by("record_id").agg(
        emails_normalized=pl.col("email_normalized")
        .filter(pl.col("email_valid"))
        .unique(maintain_order=True),
        emails_invalid=pl.col("email_raw").filter(~pl.col("email_valid")),
    )
    return per_record, values


def _name_usage(contacts: pl.DataFrame) -> pl.DataFrame:
    """How already normalised contacts use each name key, for `_first_name_odds`.

    Their keys are read after orientation: a record that was swapped counts as the name
    order it was corrected to, which a full run over the raw fields would not do. The
    difference is confined to swapped records, which are few.
    """
    return contacts.select(
        (pl.col("first_name").is_not_null() | pl.col("last_name").is_not_null()).alias(
            "_names_from_parts"
        ),
        "first_name_key",
        "last_name_key",
    )


def _normalize(
    records: pl.DataFrame,
    regions: Mapping[str, str],
    fallback_region: str,
    usage: pl.DataFrame | None,
    previous: NormalizedContacts | None = None,
) -> NormalizedContacts:
    known_phones = None if previous is None else previous.phone_values
    known_emails = None if previous is None else previous.email_values
    phones, phone_values = _phones(records, regions, fallback_region, known_phones)
    emails, email_values = _emails(records, known_emails)
    contacts = (
        records.select(list(SOURCE_RECORD_SCHEMA))
        .pipe(parse_names, usage)
        .with_columns(
            full_name_norm=pl.coalesce(
                normalize_name(pl.col("full_name")),
                pl.concat_str(
                    [normalize_name(pl.col(c)) for c in ("first_name", "middle_name", "last_name")],
                    separator=" ",
                    ignore_nulls=True,
                ),
            ).pipe(normalize_text),
            company_norm=normalize_company(pl.col("company")),
            city_norm=normalize_text(pl.col("city")),
            city_key=pl.col("city").map_batches(city_key, return_dtype=pl.String),
        )
        .with_columns(
            first_name_variants=pl.col("first_name_norm").map_batches(first_name_variants)
        )
        .join(phones, on="record_id", how="left")
        .join(emails, on="record_id", how="left")
        .with_columns(
            _list_or_empty("phones_e164"),
            _list_or_empty("phones_invalid"),
            _list_or_empty("emails_normalized"),
            _list_or_empty("emails_invalid"),
        )
        .select(list(CONTACT_SCHEMA))
    )
    return NormalizedContacts(
        contacts=contacts,
        phone_values=phone_values,
        email_values=email_values,
        renormalized=contacts.height,
    )


def _unchanged(records: pl.DataFrame, previous: pl.DataFrame) -> pl.Series:
    """Per record, whether the last run normalised the same `NORMALIZATION_INPUTS`."""
    before = previous.select(
        "record_id", *(pl.col(name).alias(f"{name}__before") for name in NORMALIZATION_INPUTS)
    )
    # eq_missing: a field empty both times is unchanged; a record the last run did not
    # have compares its source with null and is new.
    return (
        records.select("record_id", *NORMALIZATION_INPUTS)
        .join(before, on="record_id", how="left", maintain_order="left")
        .select(
            pl.all_horizontal(
                pl.col(name).eq_missing(pl.col(f"{name}__before")) for name in NORMALIZATION_INPUTS
            )
        )
        .to_series()
    )


def _values_in_use(values: pl.DataFrame, used: pl.Series, column: str) -> pl.DataFrame:
    in_use = used.explode().drop_nulls().unique().alias(column).to_frame()
    return values.join(in_use, on=column, how="semi")


def _update(
    records: pl.DataFrame,
    previous: NormalizedContacts,
    regions: Mapping[str, str],
    fallback_region: str,
) -> NormalizedContacts:
    require_columns(previous.contacts, CONTACT_SCHEMA, table="the last run's contacts")
    unchanged = _unchanged(records, previous.contacts)
    order = pl.int_range(pl.len(), dtype=pl.UInt32).alias("_order")
    records = records.select(list(SOURCE_RECORD_SCHEMA)).with_columns(order)
    # Unchanged records keep their normalised columns and take this run's passthrough
    # values (row numbers, timestamps, attributes may move without changing a contact).
    kept = records.filter(unchanged).join(
        previous.contacts.select("record_id", *_NORMALIZED_COLUMNS), on="record_id"
    )
    fresh = _normalize(
        records.filter(~unchanged).drop("_order"),
        regions,
        fallback_region,
        _name_usage(kept),
        previous,
    )
    contacts = (
        pl.concat(
            [kept, fresh.contacts.join(records.select("record_id", "_order"), on="record_id")],
            how="diagonal",
        )
        .sort("_order")
        .select(list(CONTACT_SCHEMA))
    )
    phone_values = pl.concat([previous.phone_values, fresh.phone_values]).unique(
        ["phone_raw", "region"], keep="last", maintain_order=True
    )
    email_values = pl.concat([previous.email_values, fresh.email_values]).unique(
        "email_raw", keep="last", maintain_order=True
    )
    return NormalizedContacts(
        contacts=contacts,
        phone_values=_values_in_use(phone_values, records.get_column("phones"), "phone_raw"),
        email_values=_values_in_use(email_values, records.get_column("emails"), "email_raw"),
        renormalized=fresh.renormalized,
    )


def normalize_contacts(
    records: pl.DataFrame,
    *,
    default_regions: Mapping[str, str] | None = None,
    fallback_region: str = "RU",
    previous: NormalizedContacts | None = None,
) -> NormalizedContacts:
    """Normalise phones, e-mails, names, companies and cities of source records.

    Parameters
    ----------
    records
        Source records with `SOURCE_RECORD_SCHEMA` (all sources together).
    default_regions
        Phone region of each source, for numbers written without a country code.
    fallback_region
        Region for sources missing from ``default_regions``.
    previous
        The last run's result, for a nightly run: records whose `NORMALIZATION_INPUTS`
        are unchanged keep their normalised columns and only new and changed records are
        normalised. Their first and last names are oriented with the name usage of every
        record; a full run re-judges the orientation of all.

    Returns
    -------
    NormalizedContacts
        Every input record, none dropped, in input order: invalid phones and e-mails stay
        in the ``*_invalid`` columns and are left out of matching.
    """
    require_columns(records, SOURCE_RECORD_SCHEMA, table="source records")
    regions = dict(default_regions or {})
    if previous is None:
        return _normalize(records, regions, fallback_region, None)
    return _update(records, previous, regions, fallback_region)
