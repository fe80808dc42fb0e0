"""Person names by evidence: which token is the first name, the surname, the patronymic.

A CRM full name comes in any order ("Карпов Дмитрий", "Дмитрий Сергеевич Карпов",
"Karpov D. S."), with typos in any token and tokens missing. Position says little, so
each distinct token is judged on its own evidence, in either script:

- **first names** are a closed class: a token is one when it is a known first name or
  diminutive (`dedup_pipeline.normalize.nicknames`), or within a typo of one ("Дмитаий");
- **patronymics** are built from a father's name with a handful of endings
  ("-ович", "-евна", "-ична", "Ильич"): a token is one when it has such an ending, or is
  within a typo of a patronymic formed from a known name ("Никиитчна", "Максимовчи"),
  and closer to that patronymic than to any first name ("Валентинна" is a Валентина);
- **surnames** are an open class: typical endings ("-ов", "-ская", "-енко", "-ян", ...)
  count for them, as does everything that is neither of the above;
- **usage in the base**: how records with separate name fields use a token, and how the
  full names whose order is plain (a known first name beside a surname ending) use it, so
  a surname the tables have never seen ("Ким", "Вебер") is read from the base.

Single letters are initials. Each record gets a first name, a patronymic and a surname
(any may be missing), their initials, and a gender read from the patronymic, the first
name or the surname's form, in that order of trust. Everything is computed once per
distinct token and per distinct token sequence.
"""

from __future__ import annotations

from functools import cache

import duckdb
import polars as pl

from dedup_pipeline.normalize.nicknames import (
    OTHER_RUSSIAN_FIRST_NAMES,
    RUSSIAN_DIMINUTIVES,
    WESTERN_EQUIVALENTS,
    known_first_name_keys,
)
from dedup_pipeline.normalize.text import normalize_name, transliterate_name

__all__ = [
    "PARSED_NAME_COLUMNS",
    "is_listed_patronymic",
    "name_gender_table",
    "parse_names",
    "patronymic_forms",
    "russian_name_spellings",
]

#: Columns `parse_names` adds.
PARSED_NAME_COLUMNS: dict[str, pl.DataType] = {
    "first_name_norm": pl.String(),
    "middle_name_norm": pl.String(),
    "last_name_norm": pl.String(),
    "first_name_key": pl.String(),
    "middle_name_key": pl.String(),
    "last_name_key": pl.String(),
    "name_initials": pl.String(),
    "name_gender": pl.String(),
    "_names_from_parts": pl.Boolean(),
}

# Patronymic endings on transliteration keys ("sergeevich", "ilinichna", "ilich").
_PATRONYMIC_KEY = r"(ovich|evich|ovych|evych|ich|ovna|evna|ichna|inichna|ovitch|evitch)$"
_FEMALE_PATRONYMIC_KEY = r"(ovna|evna|ichna|inichna|vna)$"
# Surname endings on keys: Russian, Ukrainian, Belarusian, Armenian, Georgian, Tatar.
_SURNAME_KEY = (
    r"(ov|ev|ova|eva|in|ina|yn|yna|ski|sky|skiy|skii|skaya|skaia|ska|tski|tskaya|enko|"
    r"uk|yuk|chuk|ykh|ikh|yan|ian|dze|shvili|ullin|ulin|ov[a]?|off)$"
)
# Patronymic surnames of English and Nordic names: "Davidson" is no misspelt "Давидовна".
_SON_SURNAME_KEY = r"(son|sen)$"
_FEMALE_SURNAME_KEY = r"(ova|eva|ina|yna|skaya|skaia|tskaya|aya)$"
_MALE_SURNAME_KEY = r"(ov|ev|in|yn|ski|sky|skiy|skii|tski|off)$"

#: Log-odds weights of each kind of evidence that a token is a first name (positive) or a
#: surname (negative). Usage in the base is a log ratio of counts, capped.
_KNOWN_FIRST = 3.0
_NEAR_FIRST = 1.5
_SURNAME_ENDING = -2.0
_USAGE_CAP = 3.0
#: A tie leans on the order: "First Last", and "Last First Patronymic" when the
#: patronymic comes after both.
_ORDER_PRIOR = 0.25
#: Similarity at which an unknown token is read as a misspelt known name or patronymic.
_NEAR = 0.92
_NEAR_PATRONYMIC = 0.9
#: Orientations this clear teach the base's usage on the second pass.
_DECISIVE = 2.0

_MALE_ON_A = frozenset({"никита", "илья", "кузьма", "фома", "лука", "савва", "добрыня"})


def _russian_gender(name: str) -> str | None:
    if name in _MALE_ON_A:
        return "m"
    if name in ("любовь", "нинель"):
        return "f"
    if name.endswith(("а", "я")):
        return "f"
    return "m"


@cache
def name_gender_table() -> pl.DataFrame:
    """Known first-name keys with the gender they tell (``m``, ``f`` or null for both).

    Russian full names tell it by their form; a diminutive ("Саша", "Женя") tells it when
    all the names it stands for agree; Western forms take their Russian name's.
    """
    rows: list[tuple[str, str | None]] = []
    fulls = {*RUSSIAN_DIMINUTIVES, *OTHER_RUSSIAN_FIRST_NAMES, *WESTERN_EQUIVALENTS}
    rows += [(name, _russian_gender(name)) for name in fulls]
    for full, shorts in RUSSIAN_DIMINUTIVES.items():
        rows += [(short, _russian_gender(full)) for short in shorts]
    for full, wests in WESTERN_EQUIVALENTS.items():
        rows += [(west, _russian_gender(full)) for west in wests]
    table = pl.DataFrame(rows, schema={"name": pl.String, "gender": pl.String}, orient="row")
    keyed = table.select(
        key=transliterate_name(normalize_name(pl.col("name"))), gender=pl.col("gender")
    )
    return keyed.group_by("key").agg(
        gender=pl.when(pl.col("gender").n_unique() == 1).then(pl.col("gender").first())
    )


def patronymic_forms(name: str) -> tuple[str, str]:
    """The son's and the daughter's patronymic of a Russian male first name."""
    irregular = {
        "илья": ("ильич", "ильинична"),
        "никита": ("никитич", "никитична"),
        "лев": ("львович", "львовна"),
        "петр": ("петрович", "петровна"),
        "павел": ("павлович", "павловна"),
        "михаил": ("михайлович", "михайловна"),
        "кузьма": ("кузьмич", "кузьминична"),
        "фома": ("фомич", "фоминична"),
        "лука": ("лукич", "лукинична"),
    }
    name = name.replace("ё", "е")
    if name in irregular:
        return irregular[name]
    if name.endswith("ий"):
        stem = name[:-2]
        # "Дмитрий", "Георгий" keep the "и"; "Юрий", "Василий" soften it.
        soft = stem.endswith(("тр", "рг"))
        return (stem + ("иевич" if soft else "ьевич"), stem + ("иевна" if soft else "ьевна"))
    if name.endswith(("ей", "ай")):
        return name[:-1] + "евич", name[:-1] + "евна"
    if name.endswith("ь"):
        return name[:-1] + "евич", name[:-1] + "евна"
    if name.endswith(("а", "я")):
        return name[:-1] + "ич", name[:-1] + "ична"
    return name + "ович", name + "овна"


@cache
def _patronymic_keys() -> pl.DataFrame:
    """Keys of the patronymics of known Russian male names, with their gender."""
    males = sorted(
        name
        for name in {*RUSSIAN_DIMINUTIVES, *OTHER_RUSSIAN_FIRST_NAMES}
        if _russian_gender(name) == "m"
    )
    rows = []
    for name in males:
        son, daughter = patronymic_forms(name)
        rows += [(son, "m"), (daughter, "f")]
    frame = pl.DataFrame(rows, schema={"name": pl.String, "gender": pl.String}, orient="row")
    return frame.select(key=transliterate_name(pl.col("name")), gender="gender").unique("key")


def is_listed_patronymic(keys: pl.Expr) -> pl.Expr:
    """Whether name keys are patronymics of the first names the tables list."""
    return keys.is_in(_patronymic_keys().get_column("key").implode())


@cache
def russian_name_spellings() -> pl.DataFrame:
    """The Cyrillic spelling of every first name, diminutive and patronymic the tables
    list, by transliteration key (``key``, ``spelling``; title case, one per key).

    How a name typed only in Latin ("Sergey", "Nikolaevich") is written on a profile
    whose other names are Cyrillic.
    """
    names = sorted({*RUSSIAN_DIMINUTIVES, *OTHER_RUSSIAN_FIRST_NAMES})
    names += sorted({short for shorts in RUSSIAN_DIMINUTIVES.values() for short in shorts})
    names += [
        form for name in names if _russian_gender(name) == "m" for form in patronymic_forms(name)
    ]

    frame = pl.DataFrame({"spelling": names}, schema={"spelling": pl.String})
    # "ё" is spelt out where the tables write it ("Лёша"); the first spelling of a key wins.
    return (
        frame.select(
            key=transliterate_name(normalize_name(pl.col("spelling"))),
            spelling=pl.col("spelling").str.to_titlecase(),
        )
        .sort(pl.col("spelling").str.contains("ё").not_())
        .unique("key", keep="first", maintain_order=True)
        .sort("key")
    )


def _near_keys(

    tokens: pl.DataFrame, known: pl.DataFrame, threshold: float, eligible: pl.Expr
) -> pl.DataFrame:
    """``eligible`` tokens of five letters or more -> the known key most like them
    (``near``) and how alike they are (``similarity``)."""
    unknown = tokens.filter(
        ~pl.col("key").is_in(known["key"].implode())
        & (pl.col("key").str.len_chars() >= 5)
        & eligible
    ).select("key")
    if unknown.is_empty():
        return pl.DataFrame(schema={"key": pl.String, "near": pl.String, "similarity": pl.Float64})
    with duckdb.connect() as connection:
        connection.register("unknown", unknown.to_arrow())
        connection.register("known_keys", known.select(near="key").to_arrow())
        return connection.sql(
            f"""
            select key, arg_max(near, jaro_winkler_similarity(key, near)) as near,
                max(jaro_winkler_similarity(key, near)) as similarity
            from unknown, known_keys
            where jaro_winkler_similarity(key, near) >= {threshold}
              and abs(length(key) - length(near)) <= 2
            group by key
            """
        ).pl()


def _lexicon(keys: pl.Series) -> pl.DataFrame:
    """Per distinct token key, what the name tables say of it: the known first name or
    patronymic it is (or misspells) and the genders they tell. Computed once per call of
    `parse_names`: the fuzzy look-ups are its costly part."""
    tokens = keys.drop_nulls().unique().to_frame("key")
    first_known = pl.DataFrame({"key": sorted(known_first_name_keys())})
    # A surname formed from a first name ("Миронов", "Петров") is not a misspelt one.
    near_first = _near_keys(tokens, first_known, _NEAR, ~pl.col("key").str.contains(_SURNAME_KEY))
    patronymics = _patronymic_keys()
    # "Никитина" is a surname, not a misspelt "Никитична". A typo may hit the ending
    # ("Максимовчи", "Павловжа"): the ending is no condition, the nearest name is.
    near_patronymic = _near_keys(
        tokens,
        patronymics.select("key"),
        _NEAR_PATRONYMIC,
        (pl.col("key").str.len_chars() >= 7)
        & ~pl.col("key").str.contains(_SURNAME_KEY)
        & ~pl.col("key").str.contains(_SON_SURNAME_KEY)
        & ~pl.col("key").is_in(first_known["key"].implode()),
    )
    # A token within a typo of both reads as the closer: "aleksanddra" is an Александра,
    # "nikithna" a Никитична.
    closer = (
        near_first.join(near_patronymic, on="key", suffix="_patronymic")
        .with_columns(patronymic=pl.col("similarity_patronymic") > pl.col("similarity"))
        .select("key", "patronymic")
    )
    near_first = near_first.join(closer.filter("patronymic"), on="key", how="anti")
    near_patronymic = near_patronymic.join(
        closer.filter(~pl.col("patronymic")), on="key", how="anti"
    )
    genders = name_gender_table()
    return (
        tokens.join(near_first.select("key", near_first="near"), on="key", how="left")
        .join(near_patronymic.select("key", near_patronymic="near"), on="key", how="left")
        .join(genders.rename({"gender": "known_gender"}), on="key", how="left")
        .join(
            genders.rename({"key": "near_first", "gender": "near_gender"}),
            on="near_first",
            how="left",
        )
        .join(
            patronymics.rename({"key": "near_patronymic", "gender": "patronymic_gender"}),
            on="near_patronymic",
            how="left",
        )
        .with_columns(
            known=pl.col("key").is_in(first_known["key"].implode()),
            known_patronymic=pl.col("key").is_in(patronymics["key"].implode()),
        )
    )


def _token_evidence(lexicon: pl.DataFrame, usage: pl.DataFrame) -> pl.DataFrame:
    """Per distinct token key: first-name score, patronymic flag and the gender each tells.

    ``lexicon`` is `_lexicon` of the keys; ``usage`` has ``key``, ``as_first`` and
    ``as_last`` (records using the key so).
    """
    known = pl.col("known")
    near = pl.col("near_first").is_not_null()
    # Short patronymics ("Ильич", "Фомич") are read from the table, not their ending.
    patronymic = (
        (pl.col("key").str.contains(_PATRONYMIC_KEY) & (pl.col("key").str.len_chars() >= 6))
        | pl.col("known_patronymic")
        | pl.col("near_patronymic").is_not_null()
    )
    usage_ratio = (
        ((pl.col("as_first").fill_null(0) + 0.5) / (pl.col("as_last").fill_null(0) + 0.5))
        .log()
        .clip(-_USAGE_CAP, _USAGE_CAP)
    )
    surname_ending = pl.col("key").str.contains(_SURNAME_KEY) & ~known
    return lexicon.join(usage, on="key", how="left").select(
        "key",
        first_score=(
            pl.when(known).then(_KNOWN_FIRST).when(near).then(_NEAR_FIRST).otherwise(0.0)
            + pl.when(surname_ending).then(_SURNAME_ENDING).otherwise(0.0)
            + usage_ratio
        ),
        patronymic=patronymic,
        first_gender=pl.coalesce("known_gender", "near_gender"),
        patronymic_gender=pl.when(patronymic).then(
            pl.coalesce(
                "patronymic_gender",
                pl.when(pl.col("key").str.contains(_FEMALE_PATRONYMIC_KEY))
                .then(pl.lit("f"))
                .otherwise(pl.lit("m")),
            )
        ),
        surname_gender=pl.when(pl.col("key").str.contains(_FEMALE_SURNAME_KEY))
        .then(pl.lit("f"))
        .when(pl.col("key").str.contains(_MALE_SURNAME_KEY))
        .then(pl.lit("m")),
    )


def _usage_of_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """How records with separate fields use each key: ``key``, ``as_first``, ``as_last``."""
    structured = frame.filter(
        pl.col("_names_from_parts")
        & pl.col("first_name_key").is_not_null()
        & pl.col("last_name_key").is_not_null()
    )
    as_first = structured.group_by(key="first_name_key").agg(as_first=pl.len())
    as_last = structured.group_by(key="last_name_key").agg(as_last=pl.len())
    return as_first.join(as_last, on="key", how="full", coalesce=True)


def _assign(tokens: pl.DataFrame, evidence: pl.DataFrame) -> pl.DataFrame:
    """Roles of the tokens of each distinct full name.

    ``tokens`` has ``name_id``, ``pos`` and ``key`` (one row per token). Returns per
    ``name_id`` the position of the first name, surname and patronymic (null when there
    is none), the initials in order, and the orientation margin (how clear it was).
    """
    t = tokens.join(evidence, on="key", how="left").with_columns(
        initial=pl.col("key").str.len_chars() == 1
    )
    words = t.filter(~pl.col("initial"))
    word_count = words.group_by("name_id").agg(words=pl.len())
    words = words.join(word_count, on="name_id")
    # The patronymic: the last patronymic-like word of a name with two words or more.
    patronymic = (
        words.filter(pl.col("patronymic") & (pl.col("words") >= 2))
        .group_by("name_id")
        .agg(patronymic_pos=pl.col("pos").max())
    )
    rest = (
        words.join(patronymic, on="name_id", how="left")
        .filter(pl.col("patronymic_pos").is_null() | (pl.col("pos") != pl.col("patronymic_pos")))
        .with_columns(rank=pl.col("pos").rank("ordinal").over("name_id") - 1)
    )
    a = rest.filter(pl.col("rank") == 0).select("name_id", a_pos="pos", a_score="first_score")
    b = rest.filter(pl.col("rank") == 1).select("name_id", b_pos="pos", b_score="first_score")
    extra = rest.filter(pl.col("rank") >= 2).group_by("name_id").agg(extra_pos=pl.col("pos"))
    initials = (
        t.filter(pl.col("initial"))
        .sort("name_id", "pos")
        .group_by("name_id")
        .agg(initials=pl.col("key").str.join(""))
    )
    ids = tokens.select("name_id").unique()
    frame = (
        ids.join(a, on="name_id", how="left")
        .join(b, on="name_id", how="left")
        .join(patronymic, on="name_id", how="left")
        .join(extra, on="name_id", how="left")
        .join(initials, on="name_id", how="left")
    )
    # "Last First Patronymic" when the patronymic follows both words; else "First Last".
    after_both = pl.col("patronymic_pos").is_not_null() & (
        pl.col("patronymic_pos") > pl.col("b_pos")
    )
    prior = pl.when(after_both).then(-_ORDER_PRIOR).otherwise(_ORDER_PRIOR)
    margin = pl.col("a_score") - pl.col("b_score") + prior
    two = pl.col("b_pos").is_not_null()
    # One word: a first name unless initials stand beside it ("Петров И. С.").
    one_is_first = pl.col("initials").is_null() & (pl.col("a_score") > 0)
    return frame.select(
        "name_id",
        first_pos=pl.when(two)
        .then(pl.when(margin >= 0).then("a_pos").otherwise("b_pos"))
        .when(one_is_first)
        .then("a_pos"),
        last_pos=pl.when(two)
        .then(pl.when(margin >= 0).then("b_pos").otherwise("a_pos"))
        .when(~one_is_first)
        .then("a_pos"),
        patronymic_pos="patronymic_pos",
        extra_pos="extra_pos",
        initials="initials",
        margin=pl.when(two).then(margin.abs()).otherwise(pl.lit(0.0)),
    )


def _full_name_tokens(names: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct normalised full names (``name_id``, ``full``) and their tokens (``name_id``,
    ``token``, ``pos``, ``key``)."""
    distinct = names.drop_nulls().unique().to_frame("full").with_row_index("name_id")
    tokens = (
        distinct.select("name_id", token=pl.col("full").str.split(" "))
        .explode("token")
        .with_columns(pos=pl.int_range(pl.len()).over("name_id"))
        .with_columns(key=transliterate_name(pl.col("token")))
        .filter(pl.col("key").str.len_chars() > 0)
    )
    return distinct, tokens


def _parse_full_names(
    distinct: pl.DataFrame, tokens: pl.DataFrame, usage: pl.DataFrame, lexicon: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse distinct normalised full names; return the parts and the decisive usage."""
    evidence = _token_evidence(lexicon, usage)
    roles = _assign(tokens, evidence)
    # Second pass: names whose order was plain teach how the base uses their tokens.
    taught = roles.filter(pl.col("margin") >= _DECISIVE)
    decisive = pl.concat(
        [
            taught.join(tokens, left_on=["name_id", "first_pos"], right_on=["name_id", "pos"])
            .group_by("key")
            .agg(as_first=pl.len()),
            taught.join(tokens, left_on=["name_id", "last_pos"], right_on=["name_id", "pos"])
            .group_by("key")
            .agg(as_last=pl.len()),
        ],
        how="diagonal",
    )
    learnt = (
        pl.concat([usage, decisive], how="diagonal")
        .group_by("key")
        .agg(pl.col("as_first").sum(), pl.col("as_last").sum())
    )
    evidence = _token_evidence(lexicon, learnt)
    roles = _assign(tokens, evidence)

    def token_at(column: str, name: str) -> pl.DataFrame:
        return roles.join(
            tokens.select("name_id", "pos", "token"),
            left_on=["name_id", column],
            right_on=["name_id", "pos"],
        ).select("name_id", pl.col("token").alias(name))

    extra = (
        roles.select("name_id", "extra_pos")
        .explode("extra_pos")
        .join(tokens, left_on=["name_id", "extra_pos"], right_on=["name_id", "pos"])
        .group_by("name_id")
        .agg(extra=pl.col("token").str.join(" "))
    )
    parts = (
        distinct.join(token_at("first_pos", "first"), on="name_id", how="left")
        .join(token_at("last_pos", "last"), on="name_id", how="left")
        .join(token_at("patronymic_pos", "middle"), on="name_id", how="left")
        .join(extra, on="name_id", how="left")
        .join(roles.select("name_id", "initials"), on="name_id", how="left")
        .select(
            "full",
            "first",
            "last",
            # Tokens beyond three ("Анна Мария Петрова") stay with the patronymic.
            middle=pl.concat_str("middle", "extra", separator=" ", ignore_nulls=True).pipe(
                lambda e: pl.when(e.str.len_chars() > 0).then(e)
            ),
            initials="initials",
        )
    )
    return parts, learnt


def parse_names(frame: pl.DataFrame, usage: pl.DataFrame | None = None) -> pl.DataFrame:
    """Split and orient the names of source records.

    Parameters
    ----------
    frame
        Records with raw ``first_name``, ``middle_name``, ``last_name`` and ``full_name``.
    usage
        Name usage of records not in ``frame`` (a nightly run's settled records):
        ``_names_from_parts``, ``first_name_key``, ``last_name_key``.

    Returns
    -------
    polars.DataFrame
        ``frame`` with `PARSED_NAME_COLUMNS` added (``full_name_norm`` is left to the
        caller). A record with separate name fields keeps them, swapped when the
        evidence says they were entered the other way round; a single field holding a
        whole name ("Иван Петров" under first name) is parsed as a full name.
    """
    first = normalize_name(pl.col("first_name"))
    middle = normalize_name(pl.col("middle_name"))
    last = normalize_name(pl.col("last_name"))
    full = normalize_name(pl.col("full_name"))
    words = (
        pl.concat_str([first, middle, last], separator=" ", ignore_nulls=True)
        .str.split(" ")
        .list.len()
    )
    single_field = (
        pl.sum_horizontal(e.is_not_null().cast(pl.Int8) for e in (first, middle, last)) == 1
    ) & (words >= 2)
    has_parts = (first.is_not_null() | last.is_not_null()) & ~single_field
    base = frame.with_columns(
        _names_from_parts=has_parts,
        _first=first,
        _middle=middle,
        _last=last,
        _full=pl.when(has_parts)
        .then(None)
        .otherwise(
            pl.coalesce(
                full, pl.concat_str([first, middle, last], separator=" ", ignore_nulls=True)
            )
        ),
    ).with_columns(
        _first_key=transliterate_name(pl.col("_first")),
        _last_key=transliterate_name(pl.col("_last")),
    )
    parts_usage = _usage_of_parts(
        base.select(
            "_names_from_parts",
            first_name_key="_first_key",
            last_name_key="_last_key",
        )
        if usage is None
        else pl.concat(
            [
                base.select(
                    "_names_from_parts", first_name_key="_first_key", last_name_key="_last_key"
                ),
                usage.select("_names_from_parts", "first_name_key", "last_name_key"),
            ]
        )
    )
    distinct, tokens = _full_name_tokens(base.get_column("_full"))
    part_keys = pl.concat(
        [base.select(key=pl.col(c)) for c in ("_first_key", "_last_key")]
        + [base.select(key=transliterate_name(pl.col("_middle")))]
    ).get_column("key")
    lexicon = _lexicon(pl.concat([tokens.get_column("key"), part_keys]))
    parsed, learnt = _parse_full_names(distinct, tokens, parts_usage, lexicon)
    # Patronymics with extra words ("мария анна") are no token: looked up on their own.
    middles = parsed.select(key=transliterate_name(pl.col("middle"))).drop_nulls().unique()
    missing = middles.join(lexicon.select("key"), on="key", how="anti").get_column("key")
    if missing.len():
        lexicon = pl.concat([lexicon, _lexicon(missing)], how="diagonal_relaxed")
    evidence = _token_evidence(lexicon, learnt)

    score = evidence.select("key", "first_score")
    with_parsed = base.join(parsed, left_on="_full", right_on="full", how="left")
    # Separate fields entered the other way round ("Миронов" as first name, "Саня" as last).
    oriented = with_parsed.join(
        score.rename({"key": "_first_key", "first_score": "_fs"}), on="_first_key", how="left"
    ).join(score.rename({"key": "_last_key", "first_score": "_ls"}), on="_last_key", how="left")
    swap = (
        has_parts & (pl.col("_fs") < 0) & (pl.col("_ls") > 0) & (pl.col("_ls") - pl.col("_fs") > 1)
    )
    from_parts = pl.col("_names_from_parts")
    result = oriented.with_columns(
        first_name_norm=pl.when(from_parts)
        .then(pl.when(swap).then("_last").otherwise("_first"))
        .otherwise("first"),
        last_name_norm=pl.when(from_parts)
        .then(pl.when(swap).then("_first").otherwise("_last"))
        .otherwise("last"),
        middle_name_norm=pl.when(from_parts).then("_middle").otherwise("middle"),
    ).with_columns(
        first_name_key=transliterate_name(pl.col("first_name_norm")),
        middle_name_key=transliterate_name(pl.col("middle_name_norm")),
        last_name_key=transliterate_name(pl.col("last_name_norm")),
    )
    genders = evidence.select("key", "first_gender", "patronymic_gender", "surname_gender")
    result = (
        result.join(
            genders.select(first_name_key="key", _g_first="first_gender"),
            on="first_name_key",
            how="left",
        )
        .join(
            genders.select(middle_name_key="key", _g_patronymic="patronymic_gender"),
            on="middle_name_key",
            how="left",
        )
        .join(
            genders.select(last_name_key="key", _g_surname="surname_gender"),
            on="last_name_key",
            how="left",
        )
    )
    initial_first = pl.coalesce(
        pl.col("first_name_key").str.slice(0, 1), pl.col("initials").str.slice(0, 1)
    )
    initial_middle = pl.coalesce(
        pl.col("middle_name_key").str.slice(0, 1),
        pl.when(pl.col("first_name_key").is_null())
        .then(pl.col("initials").str.slice(1, 1))
        .otherwise(pl.col("initials").str.slice(0, 1)),
    )
    return result.with_columns(
        name_initials=pl.concat_str(
            [initial_first.fill_null("_"), initial_middle.fill_null("_")]
        ).pipe(lambda e: pl.when(e != "__").then(e)),
        name_gender=pl.coalesce("_g_patronymic", "_g_first", "_g_surname"),
    ).select(*frame.columns, *PARSED_NAME_COLUMNS)
