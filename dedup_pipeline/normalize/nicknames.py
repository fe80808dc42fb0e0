"""Diminutives and nicknames: "Саша" ~ "Александр", "Bob" ~ "Robert".

Each first name gets a set of *variants*: its own transliteration key plus the keys of
the full names it can be short for. Two first names are nickname-related when their
variant sets intersect. English relations come from the hand-curated ``nicknames``
package; Russian diminutives are listed here (the common forms CRMs actually see).
"""

from __future__ import annotations

from functools import cache

import polars as pl
from nicknames import NickNamer

from dedup_pipeline.normalize.text import normalize_name, transliterate_name

__all__ = ["RUSSIAN_DIMINUTIVES", "first_name_variants"]

#: Full Russian first name -> diminutives in everyday use.
RUSSIAN_DIMINUTIVES: dict[str, tuple[str, ...]] = {
    "александр": ("саша", "саня", "шура", "шурик", "сашка", "алекс"),
    "александра": ("саша", "шура", "сашенька"),
    "алексей": ("леша", "алеша", "лёша", "алёша", "леха", "лёха"),
    "анастасия": ("настя", "настена", "ася"),
    "анатолий": ("толя", "толик"),
    "андрей": ("андрюша", "андрюха", "дрюня"),
    "анна": ("аня", "анюта", "нюра"),
    "антон": ("тоша", "антоша"),
    "артем": ("тема", "тёма", "артемка"),
    "борис": ("боря",),
    "вадим": ("вадик", "дима"),
    "валентин": ("валя",),
    "валентина": ("валя",),
    "валерий": ("валера",),
    "василий": ("вася",),
    "виктор": ("витя",),
    "виктория": ("вика",),
    "владимир": ("вова", "володя"),
    "владислав": ("влад", "слава"),
    "вячеслав": ("слава",),
    "галина": ("галя",),
    "геннадий": ("гена",),
    "георгий": ("жора", "гоша"),
    "григорий": ("гриша",),
    "дарья": ("даша",),
    "денис": ("дэн", "деня"),
    "дмитрий": ("дима", "митя", "димка"),
    "евгений": ("женя", "жека"),
    "евгения": ("женя",),
    "екатерина": ("катя", "катюша", "катерина"),
    "елена": ("лена", "аленка"),
    "елизавета": ("лиза",),
    "иван": ("ваня", "ванька"),
    "игорь": ("игорек",),
    "илья": ("илюша",),
    "ирина": ("ира", "иришка"),
    "константин": ("костя",),
    "ксения": ("ксюша",),
    "людмила": ("люда", "мила"),
    "максим": ("макс",),
    "марина": ("мариша",),
    "мария": ("маша", "маня", "мариша"),
    "михаил": ("миша",),
    "надежда": ("надя",),
    "наталья": ("наташа", "ната", "наталия"),
    "никита": ("никитос",),
    "николай": ("коля",),
    "ольга": ("оля",),
    "павел": ("паша",),
    "петр": ("петя",),
    "роман": ("рома",),
    "светлана": ("света",),
    "сергей": ("сережа", "серега", "серж"),
    "софья": ("соня", "софия"),
    "станислав": ("стас", "слава"),
    "татьяна": ("таня",),
    "тимофей": ("тима",),
    "юлия": ("юля",),
    "юрий": ("юра",),
    "ярослав": ("ярик", "слава"),
}


@cache
def _russian_canonicals() -> dict[str, frozenset[str]]:
    """Transliteration key of each diminutive -> keys of the full names it shortens."""
    pairs = [(short, full) for full, shorts in RUSSIAN_DIMINUTIVES.items() for short in shorts]
    frame = pl.DataFrame(pairs, schema=["short", "full"], orient="row").select(
        transliterate_name(normalize_name(pl.col(column))).alias(column)
        for column in ("short", "full")
    )
    grouped = frame.group_by("short").agg(pl.col("full").unique())
    return {short: frozenset(full) for short, full in grouped.iter_rows()}


@cache
def _nick_namer() -> NickNamer:
    return NickNamer()


def _variants(name: str, key: str) -> list[str]:
    variants = {key}
    variants |= _russian_canonicals().get(key, frozenset())
    # The English data is many-to-many ("robert" is listed as a form of "bill"); a
    # nickname is shorter than the name it stands for, which keeps such links out.
    english = [full for full in _nick_namer().canonicals_of(name) if len(full) > len(name)]
    if english:
        keys = pl.select(transliterate_name(pl.lit(pl.Series(english)))).to_series()
        variants |= set(keys.to_list())
    return sorted(variants)


def first_name_variants(first_names: pl.Series) -> pl.Series:
    """Variant keys of normalised first names, computed once per distinct name.

    Parameters
    ----------
    first_names
        Normalised first names (lower-case, see `normalize_name`).

    Returns
    -------
    polars.Series
        For each name, the sorted transliteration keys of the name and of the full names
        it can be short for; null for a null name.
    """
    distinct = first_names.drop_nulls().unique().to_frame("name")
    distinct = distinct.with_columns(key=transliterate_name(pl.col("name")))
    variants = [_variants(name, key) for name, key in distinct.iter_rows()]
    lookup = distinct.select("name").with_columns(
        pl.Series("variants", variants, dtype=pl.List(pl.String))
    )
    return (
        first_names.to_frame("name")
        .join(lookup, on="name", how="left", maintain_order="left")
        .get_column("variants")
    )
