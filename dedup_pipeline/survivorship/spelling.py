"""How a golden value is written: the cluster votes on keys, the best spelling speaks.

A survivorship rule decides *which* value a client's profile holds; this module decides
how that value is *written*. Records of one client spell one value in many ways: "Антон",
"Anton", the typo "Анттон", "СПб" for "Санкт-Петербург". Votes are therefore counted per
key: the script-independent key of the value (`dedup_pipeline.normalize`), with keys a
typo apart ("antton", "anton") counted together. The winning key is then written in its
best spelling among the records that hold it: in the profile's script, a spelling the
name tables or GeoNames know, the spelling most records use.

A profile's name fields share one script, the one most of the client's names are typed
in, so a CRM never receives "Anton" beside "Иванов". Where the client's records lack a
name in that script, the name tables supply it ("Sergey" -> "Сергей"); where they cannot
(a surname typed only in Latin), the whole profile is written in Latin, romanised from
the Cyrillic.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from dedup_pipeline.normalize.companies import company_key
from dedup_pipeline.normalize.names import is_listed_patronymic, russian_name_spellings
from dedup_pipeline.normalize.nicknames import is_listed_first_name
from dedup_pipeline.normalize.places import CITY_ABBREVIATIONS, city_key
from dedup_pipeline.normalize.text import (
    CYRILLIC_TO_LATIN,
    normalize_name,
    normalize_text,
    transliterate_name,
)

__all__ = [
    "NAME_PART_FIELDS",
    "NAME_TABLE_FIELDS",
    "SPELLING_RULES_VERSION",
    "Script",
    "best_spellings",
    "is_typo_of",
    "joined_names",
    "profile_scripts",
    "romanize",
    "script_of",
    "spelling_key",
    "tidy_spelling",
    "typo_groups",
    "value_keys",
    "well_known_spelling",
]

#: Changes whenever the choice of spelling does, so stored profiles are rebuilt once.
SPELLING_RULES_VERSION = "spelling-1"

Script = Literal["cyrillic", "latin"]

#: Name fields written in one script on a profile (the full name follows them).
NAME_PART_FIELDS: tuple[str, ...] = ("first_name", "middle_name", "last_name")

#: Name fields the name tables list spellings of (surnames are an open class).
NAME_TABLE_FIELDS: tuple[str, ...] = ("first_name", "middle_name")

# Keys shorter than this are never grouped as typos: "иван" / "иана" may be two names.
_MIN_TYPO_KEY = 4


def script_of(text: pl.Expr) -> pl.Expr:
    """``"cyrillic"`` or ``"latin"`` for text in one alphabet, ``"mixed"`` for both, null
    for text without letters of either."""
    cyrillic = text.str.contains(r"[\p{Cyrillic}]")
    latin = text.str.contains(r"[A-Za-z]")
    return (
        pl.when(cyrillic & latin)
        .then(pl.lit("mixed"))
        .when(cyrillic)
        .then(pl.lit("cyrillic"))
        .when(latin)
        .then(pl.lit("latin"))
    )


def joined_names(prefix: str = "") -> pl.Expr:
    """The name fields ``<prefix>first_name`` ... ``<prefix>last_name`` as one full name."""
    return pl.concat_str(
        [pl.col(f"{prefix}{field}") for field in NAME_PART_FIELDS], separator=" ", ignore_nulls=True
    )


def romanize(text: pl.Expr) -> pl.Expr:
    """Cyrillic letters romanised for display, each word title-cased ("Сергеевна" ->
    "Sergeevna", "Щукин" -> "Shchukin")."""
    return text.str.to_lowercase().str.replace_many(CYRILLIC_TO_LATIN).str.to_titlecase()


def spelling_key(field: str, value: pl.Expr) -> pl.Expr:
    """The key two spellings of ``field`` share when they name the same value.

    Names and cities are keyed by their romanised form (a city's GeoNames key needs the
    whole column, see `dedup_pipeline.normalize.places.city_key`); companies lose their
    legal forms ("ООО «Ромашка»" and "Romashka LLC" share one key).
    """
    if field == "company":
        return company_key(value)
    return transliterate_name(normalize_name(value))


def value_keys(values: pl.Series, field: str) -> pl.Series:
    """`spelling_key` of each value; a city's is its GeoNames key ("СПб" and
    "Санкт-Петербург" share one)."""
    if field == "city":
        return city_key(values)
    distinct = (
        values.unique().to_frame("value").with_columns(key=spelling_key(field, pl.col("value")))
    )
    return (
        values.to_frame("value")
        .join(distinct, on="value", how="left", nulls_equal=True, maintain_order="left")
        .get_column("key")
    )


def well_known_spelling(field: str, key: pl.Expr, value: pl.Expr) -> pl.Expr:
    """Whether a spelling is one a reference knows: a first name or patronymic the name
    tables list, a city written out rather than abbreviated ("СПб"). True for fields
    without a reference."""
    if field == "first_name":
        return is_listed_first_name(key)
    if field == "middle_name":
        return is_listed_patronymic(key)
    if field == "city":
        cleaned = normalize_text(value).str.replace_all("ё", "е", literal=True)
        return ~cleaned.is_in(sorted(CITY_ABBREVIATIONS))
    return pl.lit(True)


def tidy_spelling(field: str, value: pl.Expr) -> pl.Expr:
    """Whether a spelling is written with care: not all in one case ("москва", "ИВАНОВ"),
    and for a city, without a "г." before it or a region after it."""
    letters = value.str.replace_all(r"[^\p{L}]", "")
    one_case = (letters == letters.str.to_lowercase()) | (letters == letters.str.to_uppercase())
    tidy = ~one_case | (letters.str.len_chars() <= 1)
    if field == "full_name":
        # A name typed with one word in capitals ("ИВАНОВА Оля") is not written with care.
        tidy = tidy & ~value.str.contains(r"\b\p{Lu}{2,}\b")

    if field == "city":
        tidy = tidy & ~value.str.contains(r"(?i)^(г\.|г\s|город\s)|,")
    return tidy


def typo_groups(
    candidates: pl.DataFrame, *, by: str, key: str, known: str | None = None
) -> pl.DataFrame:
    """Add ``group``: ``key``, or the commonest key within one typo of it in the same
    ``by`` group, so misspellings vote with the spelling they miss.

    Two keys are a typo apart when deleting at most one character from each makes them
    equal (one letter substituted, added, dropped or two letters swapped). Keys shorter
    than four letters stand alone, and so do two keys that are both well-known spellings
    (column ``known``): "Оля" and "Ольга", "Саша" and "Паша" are a letter apart and two
    names, not one name misspelt. The commonest key is the one most candidates hold; ties
    go to the alphabetically first key, so every key of a pair picks the same.
    """
    listed = pl.col(known).any() if known is not None else pl.lit(False)
    counts = candidates.group_by(by, key).agg(count=pl.len(), listed=listed)
    variable = counts.filter(pl.len().over(by) > 1)
    deletions = (
        variable.with_columns(
            position=pl.int_ranges(0, pl.col(key).str.len_chars()),
        )
        .filter(pl.col(key).str.len_chars() >= _MIN_TYPO_KEY)
        .explode("position")
        .select(
            by,
            key,
            "count",
            "listed",
            variant=pl.col(key).str.slice(0, pl.col("position"))
            + pl.col(key).str.slice(pl.col("position") + 1),
        )
    )
    # A key is its own zero-deletion variant, so "anton" meets "antton" minus a "t".
    variants = pl.concat(
        [variable.select(by, key, "count", "listed", variant=pl.col(key)), deletions]
    ).unique()
    neighbours = (
        variants.join(variants, on=[by, "variant"], suffix="_other")
        .filter(
            (pl.col(key) == pl.col(f"{key}_other")) | ~(pl.col("listed") & pl.col("listed_other"))
        )
        .select(by, key, other=f"{key}_other", count="count_other")
    )
    group = (
        neighbours.unique([by, key, "other"])
        .sort([by, key, "count", "other"], descending=[False, False, True, False])
        .group_by(by, key, maintain_order=True)
        .agg(group=pl.col("other").first())
    )
    return candidates.join(group, on=[by, key], how="left", maintain_order="left").with_columns(
        pl.col("group").fill_null(pl.col(key))
    )


def is_typo_of(frame: pl.DataFrame, value: str, other: str) -> pl.Series:
    """Per row, whether column ``value`` is column ``other`` with one letter too many
    (keys of four letters or more): "Анттон" of "Антон", not "Александр" of "Саша"."""
    keys = pl.DataFrame(
        {
            "value": value_keys(frame.get_column(value), "first_name"),
            "other": value_keys(frame.get_column(other), "first_name"),
        }
    ).with_row_index("row")
    candidates = keys.filter(
        (pl.col("other").str.len_chars() >= _MIN_TYPO_KEY)
        & (pl.col("value").str.len_chars() == pl.col("other").str.len_chars() + 1)
    )
    matched = (
        candidates.with_columns(position=pl.int_ranges(0, pl.col("value").str.len_chars()))
        .explode("position")
        .filter(
            pl.col("value").str.slice(0, pl.col("position"))
            + pl.col("value").str.slice(pl.col("position") + 1)
            == pl.col("other")
        )
        .get_column("row")
        .unique()
    )
    return keys.get_column("row").is_in(matched.implode()).alias(value)


def profile_scripts(candidates: pl.DataFrame) -> pl.DataFrame:
    """The script each cluster's names are mostly typed in (``cluster_id``, ``script``).

    ``candidates`` holds ``cluster_id`` and ``script`` per name value of a record. Ties
    go to Cyrillic, the script the name tables can complete.
    """
    counts = (
        candidates.filter(pl.col("script").is_in(["cyrillic", "latin"]))
        .group_by("cluster_id")
        .agg(
            cyrillic=(pl.col("script") == "cyrillic").sum(),
            latin=(pl.col("script") == "latin").sum(),
        )
    )
    return counts.select(
        "cluster_id",
        script=pl.when(pl.col("latin") > pl.col("cyrillic"))
        .then(pl.lit("latin"))
        .otherwise(pl.lit("cyrillic")),
    )


def best_spellings(
    candidates: pl.DataFrame, order: list[tuple[str | pl.Expr, bool]], *, field: str
) -> pl.DataFrame:
    """How the winning value of each cluster is best written, in each script.

    Parameters
    ----------
    candidates
        The spellings of the winning key group: ``cluster_id``, ``value``, ``script``,
        ``known`` (`well_known_spelling`), ``uses`` (records of the cluster spelling it so)
        and the columns ``order`` sorts on.
    order
        The rule's sort keys and tie-breaks, for spellings equal in everything else.
    field
        The golden field; first names and patronymics typed only in Latin get their
        Cyrillic spelling from the name tables.

    Returns
    -------
    polars.DataFrame
        ``cluster_id``, ``cyrillic`` (the best spelling in Cyrillic, from the records or
        the name tables; null where neither has one), ``latin`` (the best Latin spelling,
        romanised from the best one where no record has a well-known one) and ``best``
        (the best spelling in any script).
    """
    keys = [("known", True), ("tidy", True), ("uses", True), *order]

    ranked = candidates.sort(
        [key for key, _ in keys], descending=[desc for _, desc in keys], nulls_last=True
    )
    best = ranked.group_by("cluster_id", maintain_order=True).agg(
        best=pl.col("value").first(),
        key=pl.col("key").first(),
        best_known=pl.col("known").first(),
    )
    spellings = best
    for script in ("cyrillic", "latin"):
        spellings = spellings.join(
            ranked.filter(pl.col("script") == script)
            .group_by("cluster_id", maintain_order=True)
            .agg(pl.col("value").first().alias(script), pl.col("known").first().alias("known")),
            on="cluster_id",
            how="left",
        ).rename({"known": f"{script}_known"})
    if field in NAME_TABLE_FIELDS:
        tables = russian_name_spellings().rename({"spelling": "table_spelling"})
        spellings = spellings.join(tables, on="key", how="left")
    else:
        spellings = spellings.with_columns(table_spelling=pl.lit(None, dtype=pl.String))
    # A spelling a reference knows beats one typed with a typo in the same script.
    spellings = spellings.with_columns(
        cyrillic=pl.when(pl.col("cyrillic_known"))
        .then("cyrillic")
        .otherwise(pl.coalesce("table_spelling", "cyrillic")),
        latin=pl.when(pl.col("latin_known"))
        .then("latin")
        .when(pl.col("best_known"))
        .then(romanize(pl.col("best")))
        .otherwise(pl.coalesce("latin", romanize(pl.col("best")))),
    )
    return spellings.select("cluster_id", "cyrillic", "latin", "best")
