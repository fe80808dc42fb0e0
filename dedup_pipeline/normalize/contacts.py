"""The normalize stage: source records in, contacts with match-ready fields out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dedup_pipeline.normalize.emails import EMAIL_VALUES_SCHEMA, normalize_email_values
from dedup_pipeline.normalize.nicknames import first_name_variants, known_first_name_keys
from dedup_pipeline.normalize.phones import PHONE_VALUES_SCHEMA, normalize_phone_values
from dedup_pipeline.normalize.places import city_key
from dedup_pipeline.normalize.text import (
    normalize_company,
    normalize_name,
    normalize_text,
    transliterate_name,
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
    "last_name_key": pl.String(),
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
        has_parts.alias("_names_from_parts"),
        pl.when(has_parts).then(first).otherwise(split_first).alias("first_name_norm"),
        pl.when(has_parts).then(middle).otherwise(split_middle).alias("middle_name_norm"),
        pl.when(has_parts).then(last).otherwise(split_last).alias("last_name_norm"),
        pl.coalesce(full, pl.concat_str([first, middle, last], separator=" ", ignore_nulls=True))
        .pipe(normalize_text)
        .alias("full_name_norm"),
    ]


# Endings of surname keys ("Петров" -> "petrov", "Зелинский" -> "zelinski", "Шевченко").
_SURNAME_ENDING = r"(ov|ev|ova|eva|in|yn|ski|skaya|enko|uk|ikh|ykh)$"
# Pseudo-counts: how strongly the name tables and surname endings weigh against the data.
_PRIOR = 3


def _first_name_odds(frame: pl.DataFrame, usage: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per name key, how likely it is a first name (0..1), from the data and the tables.

    Records with separate first and last name fields say how each key is used; the
    tables of known first names and the typical surname endings act as prior counts.
    ``usage`` adds records that are not being normalised (`_name_usage`).
    """
    both = pl.col("first_name_key").is_not_null() & pl.col("last_name_key").is_not_null()
    columns = ["_names_from_parts", "first_name_key", "last_name_key"]
    used = frame.select(columns) if usage is None else pl.concat([frame.select(columns), usage])
    structured = used.filter(pl.col("_names_from_parts") & both)
    as_first = structured.group_by(pl.col("first_name_key").alias("key")).agg(
        first=pl.len().cast(pl.Float64)
    )
    as_last = structured.group_by(pl.col("last_name_key").alias("key")).agg(
        last=pl.len().cast(pl.Float64)
    )
    keys = (
        pl.concat(
            [frame.select(pl.col(c).alias("key")) for c in ("first_name_key", "last_name_key")]
        )
        .drop_nulls()
        .unique()
    )
    known = pl.col("key").is_in(list(known_first_name_keys()))
    prior_first = pl.when(known).then(_PRIOR).otherwise(0)
    prior_last = pl.when(~known & pl.col("key").str.contains(_SURNAME_ENDING)).then(_PRIOR)
    return (
        keys.join(as_first, on="key", how="left")
        .join(as_last, on="key", how="left")
        .fill_null(0)
        .select(
            "key",
            odds=(pl.col("first") + prior_first)
            / (pl.col("first") + pl.col("last") + prior_first + prior_last.otherwise(0) + 1),
        )
    )


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


def _orient_names(frame: pl.DataFrame, usage: pl.DataFrame | None = None) -> pl.DataFrame:
    """Swap first and last names written the other way round ("Миронов Саня")."""
    odds = _first_name_odds(frame, usage)
    with_odds = frame.join(
        odds.rename({"key": "first_name_key", "odds": "_first_odds"}),
        on="first_name_key",
        how="left",
    ).join(
        odds.rename({"key": "last_name_key", "odds": "_last_odds"}),
        on="last_name_key",
        how="left",
    )
    swap = (pl.col("_last_odds") > 0.5) & (pl.col("_first_odds") < 0.5)
    swapped = {
        "first_name_norm": "last_name_norm",
        "last_name_norm": "first_name_norm",
        "first_name_key": "last_name_key",
        "last_name_key": "first_name_key",
    }
    # One with_columns: every swap reads the columns as they were.
    return with_odds.with_columns(
        pl.when(swap).then(pl.col(other)).otherwise(pl.col(name)).alias(name)
        for name, other in swapped.items()
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
        .with_columns(
            *_name_parts(),
            company_norm=normalize_company(pl.col("company")),
            city_norm=normalize_text(pl.col("city")),
            city_key=pl.col("city").map_batches(city_key, return_dtype=pl.String),
        )
        .with_columns(
            first_name_key=transliterate_name(pl.col("first_name_norm")),
            last_name_key=transliterate_name(pl.col("last_name_norm")),
        )
        .pipe(_orient_names, usage)
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
