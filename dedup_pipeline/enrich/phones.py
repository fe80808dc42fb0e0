"""What a phone number says about its holder: country, region, time zone, carrier, line
type, from libphonenumber's geocoding, carrier and time-zone data (the `phonenumbers`
port), in Russian and English."""

from __future__ import annotations

import phonenumbers
import polars as pl
from phonenumbers import carrier, geocoder, timezone
from phonenumbers.geodata.locale import LOCALE_DATA

from dedup_pipeline.enrich.numbering_plan import plan_descriptions
from dedup_pipeline.normalize._parallel import map_values

__all__ = ["PHONE_ENRICHMENT_SCHEMA", "enrich_phones"]

_LIST = pl.List(pl.String())

#: One row per distinct valid phone (E.164).
PHONE_ENRICHMENT_SCHEMA: dict[str, pl.DataType] = {
    "phone_e164": pl.String(),
    "country": pl.String(),  # ISO 3166 region code
    "country_ru": pl.String(),
    "country_en": pl.String(),
    "region_ru": pl.String(),  # area or city where the number says more than its country
    "region_en": pl.String(),
    "time_zones": _LIST,
    "time_zone": pl.String(),  # the zone when the number has exactly one
    "carrier_ru": pl.String(),
    "carrier_en": pl.String(),
    "line_type": pl.String(),
    "described_with": pl.String(),  # the phonenumbers version whose data described it
}

_LINE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


def _country_name(region: str | None, language: str) -> str | None:
    # The region's own name, also for non-geographic ranges (toll-free), where
    # country_name_for_number answers nothing.
    names = LOCALE_DATA.get(region or "") or {}
    name = names.get(language, "")
    if name.startswith("*"):  # "*<language>": the name is held under that language
        name = names.get(name[1:], "")
    return name or None


def _describe(e164: str) -> tuple:
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number)
    country_ru = _country_name(region, "ru")
    country_en = _country_name(region, "en")
    region_ru = geocoder.description_for_number(number, "ru") or None
    region_en = geocoder.description_for_number(number, "en") or None
    zones = [z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return (
        region,
        country_ru,
        country_en,
        # The geocoder falls back to the country's name: that is no region.
        region_ru if region_ru != country_ru else None,
        region_en if region_en != country_en else None,
        zones,
        zones[0] if len(zones) == 1 else None,
        carrier.name_for_number(number, "ru") or None,
        carrier.name_for_number(number, "en") or None,
        _LINE_TYPES.get(phonenumbers.number_type(number), "unknown"),
    )


def enrich_phones(
    phones: pl.Series, *, known: pl.DataFrame | None = None, plan: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Describe each distinct phone number.

    Parameters
    ----------
    phones
        E.164 numbers (valid ones, as ``phones_e164`` holds them); nulls and repeats are
        allowed.
    known
        Descriptions from an earlier run (`PHONE_ENRICHMENT_SCHEMA`): numbers found there,
        described with this version of phonenumbers' data (and of the plan), are not
        looked up again.
    plan
        The Russian numbering plan (`NUMBERING_PLAN_SCHEMA`), when loaded: a Russian
        number whose region libphonenumber does not know (a mobile range) gets the
        region and time zone of the plan's range that holds it.

    Returns
    -------
    polars.DataFrame
        `PHONE_ENRICHMENT_SCHEMA`, one row per distinct number. The carrier is the one the
        number range was allocated to: a ported number keeps its old carrier. A mobile
        number in a country with several time zones has all of them and no ``time_zone``.
    """
    distinct = phones.drop_nulls().unique().sort()
    described_with = phonenumbers.__version__
    if plan is not None and plan.height:
        described_with += f"+plan:{plan.get_column('plan_version').first()}"
    reused = pl.DataFrame(schema=PHONE_ENRICHMENT_SCHEMA)
    if known is not None:
        reused = known.select(list(PHONE_ENRICHMENT_SCHEMA)).filter(
            pl.col("phone_e164").is_in(distinct.implode()),
            pl.col("described_with") == described_with,
        )
        distinct = distinct.filter(~distinct.is_in(reused["phone_e164"].implode()))
    # Python runs once per distinct number, spread over the cores.
    rows = map_values(_describe, distinct.to_list())
    columns = list(PHONE_ENRICHMENT_SCHEMA)[1:-1]
    described = pl.DataFrame(
        {
            "phone_e164": distinct,
            **{c: [r[i] for r in rows] for i, c in enumerate(columns)},
            "described_with": [described_with] * len(rows),
        },
        schema=PHONE_ENRICHMENT_SCHEMA,
    )
    if plan is not None and plan.height:
        described = _with_plan_regions(described, plan)

    return pl.concat([reused.cast(PHONE_ENRICHMENT_SCHEMA), described]).sort("phone_e164")  # type: ignore[arg-type]


def _with_plan_regions(described: pl.DataFrame, plan: pl.DataFrame) -> pl.DataFrame:
    """Fill a Russian number's region and time zone from the numbering plan where
    libphonenumber names none (its own, a city for landlines, is finer and kept)."""
    from_plan = plan_descriptions(described.get_column("phone_e164"), plan).rename(
        {"region_ru": "plan_ru", "region_en": "plan_en", "time_zone": "plan_zone"}
    )
    unknown = pl.col("region_ru").is_null() & pl.col("plan_ru").is_not_null()
    return (
        described.join(from_plan, on="phone_e164", how="left")
        .with_columns(
            region_ru=pl.when(unknown).then("plan_ru").otherwise("region_ru"),
            region_en=pl.when(unknown).then("plan_en").otherwise("region_en"),
            time_zone=pl.coalesce("time_zone", "plan_zone"),
        )
        .select(list(PHONE_ENRICHMENT_SCHEMA))
    )
