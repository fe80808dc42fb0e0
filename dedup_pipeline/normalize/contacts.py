"""The normalize stage: source records in, contacts with match-ready fields out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dedup_pipeline.normalize.emails import EMAIL_VALUES_SCHEMA, normalize_email_values
from dedup_pipeline.normalize.nicknames import first_name_variants
from dedup_pipeline.normalize.phones import PHONE_VALUES_SCHEMA, normalize_phone_values
from dedup_pipeline.normalize.text import (
    normalize_company,
    normalize_name,
    normalize_text,
    transliterate_name,
)
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA, require_columns

__all__ = ["CONTACT_SCHEMA", "NormalizedContacts", "normalize_contacts"]

_LIST = pl.List(pl.String())

#: Source records plus the normalised, match-ready columns.
CONTACT_SCHEMA: dict[str, pl.DataType] = {
    **SOURCE_RECORD_SCHEMA,
    "first_name_norm": pl.String(),
    "middle_name_norm": pl.String(),
    "last_name_norm": pl.String(),
    "full_name_norm": pl.String(),
    "first_name_key": pl.String(),
    "last_name_key": pl.String(),
    "first_name_variants": _LIST,
    "company_norm": pl.String(),
    "city_norm": pl.String(),
    "phones_e164": _LIST,
    "phones_invalid": _LIST,
    "emails_normalized": _LIST,
    "emails_invalid": _LIST,
}


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
    """

    contacts: pl.DataFrame
    phone_values: pl.DataFrame
    email_values: pl.DataFrame


def _list_or_empty(column: str) -> pl.Expr:
    return pl.col(column).fill_null(pl.lit([], dtype=_LIST))


def _phones(records: pl.DataFrame, regions: Mapping[str, str], default_region: str):
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
        values = normalize_phone_values(exploded.select("phone_raw", "region"))
    parsed = exploded.join(values, on=["phone_raw", "region"], how="left").sort("position")
    per_record = parsed.group_by("record_id").agg(
        phones_e164=pl.col("phone_e164").filter(pl.col("phone_valid")).unique(maintain_order=True),
        phones_invalid=pl.col("phone_raw").filter(~pl.col("phone_valid")),
    )
    return per_record, values


def _emails(records: pl.DataFrame):
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
        values = normalize_email_values(exploded.get_column("email_raw"))
    parsed = exploded.join(values, on="email_raw", how="left").sort("position")
    per_record = parsed.group_by("record_id").agg(
        emails_normalized=pl.col("email_normalized")
        .filter(pl.col("email_valid"))
        .unique(maintain_order=True),
        emails_invalid=pl.col("email_raw").filter(~pl.col("email_valid")),
    )
    return per_record, values


# Russian patronymics ("Сергеевич", "Ильинична", "Sergeevich"): they fix the order of a
# three-part full name, which CRMs store as "Last First Patronymic" as often as not.
_PATRONYMIC = r"(ович|евич|ич|овна|евна|ична|инична|ovich|evich|ich|ovna|evna|ichna|inichna)$"


def _name_parts() -> list[pl.Expr]:
    first = normalize_name(pl.col("first_name"))
    middle = normalize_name(pl.col("middle_name"))
    last = normalize_name(pl.col("last_name"))
    full = normalize_name(pl.col("full_name"))
    tokens = full.str.split(" ")
    count = tokens.list.len()
    token = [tokens.list.get(i, null_on_oob=True) for i in range(3)]
    has_parts = first.is_not_null() | last.is_not_null()
    # A record that only has a full name still needs first and last names to be compared
    # with structured records. Three parts ending in a patronymic read "Last First
    # Patronymic"; a patronymic in the middle reads "First Patronymic Last"; otherwise the
    # first token is taken as the first name (the match stage also tries swapped order).
    last_first_patronymic = (count == 3) & token[2].str.contains(_PATRONYMIC)
    first_patronymic_last = (count == 3) & token[1].str.contains(_PATRONYMIC)
    split_first = pl.when(last_first_patronymic).then(token[1]).otherwise(tokens.list.first())
    split_middle = (
        pl.when(last_first_patronymic)
        .then(token[2])
        .when(first_patronymic_last | (count == 3))
        .then(token[1])
    )
    split_last = (
        pl.when(last_first_patronymic).then(token[0]).when(count > 1).then(tokens.list.last())
    )
    return [
        pl.when(has_parts).then(first).otherwise(split_first).alias("first_name_norm"),
        pl.when(has_parts).then(middle).otherwise(split_middle).alias("middle_name_norm"),
        pl.when(has_parts).then(last).otherwise(split_last).alias("last_name_norm"),
        pl.coalesce(full, pl.concat_str([first, middle, last], separator=" ", ignore_nulls=True))
        .pipe(normalize_text)
        .alias("full_name_norm"),
    ]


def normalize_contacts(
    records: pl.DataFrame,
    *,
    default_regions: Mapping[str, str] | None = None,
    fallback_region: str = "RU",
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

    Returns
    -------
    NormalizedContacts
        Every input record, none dropped: invalid phones and e-mails stay in the
        ``*_invalid`` columns and are left out of matching.
    """
    require_columns(records, SOURCE_RECORD_SCHEMA, table="source records")
    regions = dict(default_regions or {})
    phones, phone_values = _phones(records, regions, fallback_region)
    emails, email_values = _emails(records)
    contacts = (
        records.select(list(SOURCE_RECORD_SCHEMA))
        .with_columns(
            *_name_parts(),
            company_norm=normalize_company(pl.col("company")),
            city_norm=normalize_text(pl.col("city")),
        )
        .with_columns(
            first_name_key=transliterate_name(pl.col("first_name_norm")),
            last_name_key=transliterate_name(pl.col("last_name_norm")),
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
        contacts=contacts, phone_values=phone_values, email_values=email_values
    )
