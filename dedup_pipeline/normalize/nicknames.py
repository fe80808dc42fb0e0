"""Diminutives and nicknames: "Саша" ~ "Александр", "Bob" ~ "Robert".

Each first name gets a set of *variants*: its own transliteration key plus the keys of
the full names it can be short for. Two first names are nickname-related when their
variant sets intersect. English relations come from the hand-curated ``nicknames``
package; Russian diminutives are listed here (the common forms CRMs actually see).
"""

from __future__ import annotations

from functools import cache

import duckdb
import polars as pl
from nicknames import NickNamer

from dedup_pipeline.normalize.text import normalize_name, transliterate_name

__all__ = [
    "OTHER_RUSSIAN_FIRST_NAMES",
    "RUSSIAN_DIMINUTIVES",
    "WESTERN_EQUIVALENTS",
    "first_name_variants",
    "is_listed_first_name",
    "known_first_name_keys",
]

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
    "кирилл": ("кирюша", "киря", "кирюха"),
    "маргарита": ("рита", "марго"),
    "олег": ("олежка",),
    "леонид": ("леня", "лёня"),
    "любовь": ("люба",),
    "алина": ("аля",),
    "кристина": ("кристи", "тина"),
    "вероника": ("ника",),
    "фёдор": ("федя",),
    "федор": ("федя",),
    "степан": ("степа", "стёпа"),
    "егор": ("егорка",),
    "семен": ("сема", "сёма"),
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


#: Russian first name -> the Western forms a bilingual CRM records for the same person
#: ("Елена" is entered as "Helen" by an English-speaking manager).
WESTERN_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "александр": ("alexander", "alex"),
    "александра": ("alexandra",),
    "алексей": ("alexis",),
    "анастасия": ("anastasia",),
    "андрей": ("andrew", "andre"),
    "алиса": ("alice", "alicia"),
    "анна": ("ann", "anne", "hannah"),
    "антон": ("anthony", "antony"),
    "валентина": ("valentine",),
    "виктор": ("victor",),
    "валерия": ("valerie", "valeria"),
    "вероника": ("veronica",),
    "виктория": ("victoria",),
    "георгий": ("george",),
    "даниил": ("daniel",),
    "дарья": ("daria", "darya"),
    "денис": ("dennis",),
    "григорий": ("gregory",),
    "дмитрий": ("dmitry", "dimitri"),
    "екатерина": ("catherine", "katherine", "kate"),
    "елена": ("helen", "helena", "ellen"),
    "елизавета": ("elizabeth", "elisabeth"),
    "евгений": ("eugene", "evgeny", "yevgeny"),
    "евгения": ("eugenia", "eugenie", "evgenia"),
    "жанна": ("jeanne", "jeanna"),
    "ирина": ("irene", "irina"),
    "кристина": ("christina", "kristina", "christine"),
    "ксения": ("xenia", "ksenia", "kseniya"),
    "лев": ("leo",),
    "маргарита": ("margaret", "margarita"),
    "марк": ("mark", "marc"),
    "матвей": ("matthew",),
    "константин": ("constantine",),
    "людмила": ("ludmila",),
    "мария": ("mary", "maria", "marie"),
    "михаил": ("michael",),
    "наталья": ("natalie", "natalia"),
    "николай": ("nicholas",),
    "павел": ("paul",),
    "полина": ("pauline", "polina"),
    "петр": ("peter",),
    "софья": ("sophia", "sophie"),
    "степан": ("stephen", "steven", "stepan"),
    "тимофей": ("timothy",),
    "филипп": ("philip", "phillip"),
    "эдуард": ("edward",),
    "татьяна": ("tatiana",),
    "федор": ("theodore",),
    "юлия": ("julia", "julie"),
    "юрий": ("yuri",),
    "яков": ("jacob",),
}


#: Common Russian first names without an entry above; with the tables above they tell a
#: first name from a surname when a full name is written in either order.
OTHER_RUSSIAN_FIRST_NAMES: tuple[str, ...] = (
    "агата", "аделина", "алина", "алиса", "алла", "альберт", "анатолий", "ангелина",
    "арина", "арсений", "артур", "богдан", "вениамин", "вера", "вероника", "виталий",
    "владлен", "всеволод", "гавриил", "глеб", "давид", "даниил", "данил", "диана",
    "добрыня", "ева", "евдокия", "егор", "жанна", "зинаида", "зоя", "злата", "инна",
    "карина", "кира", "кирилл", "клавдия", "кристина", "лариса", "лев", "леонид",
    "лидия", "лилия", "любовь", "майя", "маргарита", "марат", "марк", "матвей", "милана",
    "мирон", "нина", "оксана", "олег", "платон", "полина", "раиса", "ренат", "римма",
    "родион", "руслан", "рустам", "савелий", "семен", "снежана", "стефания", "таисия",
    "тамара", "тимур", "ульяна", "филипп", "эдуард", "элина", "эльвира", "эмиль", "яна",
    "ян", "алена", "алёна", "василиса", "варвара", "валерия", "владислава", "вячеслав",
    "зарина", "лиана", "серафима", "фаина", "фёдор", "федор", "эмма", "эрик",
)  # fmt: skip


@cache
def known_first_name_keys() -> frozenset[str]:
    """Transliteration keys of every first name in the tables of this module."""
    names = [
        *RUSSIAN_DIMINUTIVES,
        *(short for shorts in RUSSIAN_DIMINUTIVES.values() for short in shorts),
        *(west for wests in WESTERN_EQUIVALENTS.values() for west in wests),
        *OTHER_RUSSIAN_FIRST_NAMES,
    ]
    return frozenset(_name_keys(names).to_list())


@cache
def _listed_first_name_keys() -> pl.Series:
    namer = _nick_namer()
    english = _name_keys([*namer.nickname_lookup, *namer.canonical_lookup])
    return pl.concat([pl.Series(sorted(known_first_name_keys())), english]).unique()


def _name_keys(names: list[str]) -> pl.Series:
    """Transliteration keys of first names as written in a table (nulls dropped)."""
    frame = pl.Series(names, dtype=pl.String).to_frame("name")
    return frame.select(transliterate_name(normalize_name(pl.col("name")))).to_series().drop_nulls()


def is_listed_first_name(keys: pl.Expr) -> pl.Expr:
    """Whether first-name keys are names the tables list (Russian or English, full or
    short): a name they do not list may be a typo or a diminutive of any name."""
    return keys.is_in(_listed_first_name_keys().implode())


@cache
def _russian_canonicals() -> pl.DataFrame:
    """Keys of each diminutive or Western form (``short``) and of its Russian name (``full``)."""
    pairs = [(short, full) for full, shorts in RUSSIAN_DIMINUTIVES.items() for short in shorts]
    pairs += [(west, full) for full, wests in WESTERN_EQUIVALENTS.items() for west in wests]
    return (
        pl.DataFrame(pairs, schema=["short", "full"], orient="row")
        .select(
            transliterate_name(normalize_name(pl.col(column))).alias(column)
            for column in ("short", "full")
        )
        .unique()
    )


@cache
def _nick_namer() -> NickNamer:
    return NickNamer()


def _variant_lookup(names: pl.Series) -> pl.DataFrame:
    """``name`` -> its own key plus the keys of the full names it can stand for."""
    namer = _nick_namer()
    # The English data is many-to-many ("robert" is listed as a form of "bill"); a
    # nickname is no longer than the name it stands for ("jack" -> "john"), which keeps
    # such links out. NickNamer is a dictionary look-up, made once per distinct name.
    english = [
        (name, full)
        for name in names.to_list()
        for full in namer.canonicals_of(name)
        if len(full) >= len(name) and full != name
    ]
    own = names.to_frame("name").with_columns(variant=transliterate_name(pl.col("name")))
    english_keys = pl.DataFrame(
        english, schema={"name": pl.String, "full": pl.String}, orient="row"
    ).select("name", variant=transliterate_name(pl.col("full")))
    russian = own.join(_russian_canonicals(), left_on="variant", right_on="short").select(
        "name", pl.col("full").alias("variant")
    )
    return (
        pl.concat([own, english_keys, russian])
        .unique()
        .group_by("name")
        .agg(pl.col("variant").sort().alias("variants"))
    )


@cache
def _known_names() -> pl.DataFrame:
    """Every first name the tables know (Russian and English), with its key."""
    namer = _nick_namer()
    names = {
        *RUSSIAN_DIMINUTIVES,
        *(short for shorts in RUSSIAN_DIMINUTIVES.values() for short in shorts),
        *(west for wests in WESTERN_EQUIVALENTS.values() for west in wests),
        *OTHER_RUSSIAN_FIRST_NAMES,
        *namer._canonical_lookup,
        *namer._nickname_lookup,
    }
    return pl.DataFrame({"known": sorted(names)}).with_columns(
        known_key=transliterate_name(normalize_name(pl.col("known")))
    )


#: Similarity of keys at which an unknown first name is read as a misspelt known one.
TYPO_SIMILARITY = 0.92


def _nearest_known_names(names: pl.Series) -> pl.DataFrame:
    """Unknown names of five letters or more -> the known name they most likely misspell."""
    known = _known_names()
    unknown = (
        names.to_frame("name")
        .with_columns(key=transliterate_name(pl.col("name")))
        .filter(
            ~pl.col("key").is_in(known["known_key"].implode())
            & (pl.col("key").str.len_chars() >= 5)
        )
    )
    if unknown.is_empty():
        return pl.DataFrame(schema={"name": pl.String, "known": pl.String})
    # Distinct unknown names times a few thousand known ones: one vectorised join.
    with duckdb.connect() as connection:
        return connection.sql(
            f"""
            select name, arg_max(known, jaro_winkler_similarity(key, known_key)) as known
            from unknown, known
            where jaro_winkler_similarity(key, known_key) >= {TYPO_SIMILARITY}
            group by name
            """
        ).pl()


#: Russian diminutive and familiar suffixes, as transliteration keys, longest first: a
#: known short name with its ending replaced by one of them is the same name
#: ("Лен-а" -> "Лен-очка", "Сан-я" -> "Сан-ёк", "Дим-а" -> "Дим-он", "Маш-а" -> "Маш-енька").
DIMINUTIVE_SUFFIXES = (
    "yushka", "ochka", "echka", "enka", "onka", "ushka", "yusha", "yusya", "yulya",
    "usha", "usya", "ulya", "ek", "ok", "on", "ka",
)  # fmt: skip

#: Endings of the short names such a stem is looked up with ("len" -> "lena").
_SHORT_NAME_ENDINGS = ("a", "ya")

#: Shortest stem read through a suffix: "Ника" is not "Н-ика".
_MIN_DIMINUTIVE_STEM = 3


def _diminutive_bases(names: pl.Series) -> pl.DataFrame:
    """Unknown names built from a known short name and a diminutive suffix -> that name.

    Russian forms familiar names productively ("Леночка", "Санёк", "Димон", "Машенька");
    no table lists them all. A name the tables do not know is read as a stem and a suffix
    of `DIMINUTIVE_SUFFIXES` when the stem plus "-а"/"-я" is a known name.
    """
    known = _known_names().select("known", "known_key")
    keys = names.to_frame("name").with_columns(key=transliterate_name(pl.col("name")))
    unknown = keys.filter(~pl.col("key").is_in(known["known_key"].implode()))
    candidates = pl.concat(
        [
            unknown.filter(pl.col("key").str.ends_with(suffix)).with_columns(
                stem=pl.col("key").str.head(-len(suffix)), order=pl.lit(order)
            )
            for order, suffix in enumerate(DIMINUTIVE_SUFFIXES)
        ]
    ).filter(pl.col("stem").str.len_chars() >= _MIN_DIMINUTIVE_STEM)
    shorts = pl.concat(
        [
            candidates.with_columns(known_key=pl.col("stem") + ending)
            for ending in _SHORT_NAME_ENDINGS
        ]
    )
    return (
        shorts.join(known, on="known_key")
        # The longest suffix that reads as a known name wins ("-очка" before "-ка").
        .sort("order", "known")
        .unique("name", keep="first")
        .select("name", "known")
    )


def first_name_variants(first_names: pl.Series) -> pl.Series:
    """Variant keys of normalised first names, computed once per distinct name.

    A name the tables do not know but which is one typo away from a known name
    ("Наалья", "Vyacheslva"), or a known short name with a diminutive suffix
    ("Леночка", "Санёк", `DIMINUTIVE_SUFFIXES`), also gets that name's variants.

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
    names = first_names.drop_nulls().unique()
    lookup = _variant_lookup(names)
    # A suffix that reads as a known name is better evidence than a letter's distance.
    corrections = pl.concat([_diminutive_bases(names), _nearest_known_names(names)]).unique(
        "name", keep="first", maintain_order=True
    )
    if corrections.height:
        corrected = corrections.join(
            _variant_lookup(corrections["known"].unique()).rename({"name": "known"}),
            on="known",
        ).select("name", "variants")
        lookup = (
            pl.concat([lookup, corrected])
            .explode("variants")
            .group_by("name")
            .agg(pl.col("variants").unique().sort())
        )
    return (
        first_names.to_frame("name")
        .join(lookup, on="name", how="left", maintain_order="left")
        .get_column("variants")
    )
