"""When do two records' names belong to different people?

The same test serves twice: it tells which phones and mailboxes are shared by different
people (so they weigh less as evidence), and it keeps pairs with conflicting names out of
automatic merges however much else they share.
"""

from __future__ import annotations

from collections.abc import Sequence

import splink.comparison_level_library as cll

__all__ = [
    "NAME_CONFLICT_SIMILARITY",
    "PERSON_COLUMNS",
    "name_conflict_sql",
    "pair_name_columns",
]

#: Name similarity below which two present names count as different people's.
NAME_CONFLICT_SIMILARITY = 0.8

#: Romanised Cyrillic letters written with two or more Latin ones, folded to one for the
#: similarity test: a one-letter typo on "щ" or "ж" ("Мщксим", "msHCHksim") would
#: otherwise change four letters of the key.
_DIGRAPH_FOLDS = (("shch", "s"), ("sh", "s"), ("ch", "c"), ("ts", "c"), ("zh", "z"))


def _folded(column: str) -> str:
    for old, new in _DIGRAPH_FOLDS:
        column = f"replace({column}, '{old}', '{new}')"
    return column


def name_conflict_sql(
    jaro_winkler: str, sql_dialect: str = "duckdb", *, overridden_by: Sequence[str] = ()
) -> str:
    """SQL that is true when a pair's names belong to different people.

    The pair's columns are those of `PERSON_COLUMNS` with ``_l`` and ``_r`` suffixes
    (Splink's naming). Names conflict when

    - both records have a last name and the last names differ (colleagues on one
      switchboard, "Mary Smith" and "Mary Morris");
    - both have a first name and the first names are neither alike nor nicknames of one
      another (family members on a home phone, "Валентина" and "Александр"), unless one
      is a name no table lists that starts like the other: "Тома" for "Тамара", "Мотя"
      for "Матвей", "Иан" for "Иван" are a diminutive or a typo no table has, not proof
      of another person;
    - a first name is missing on one side and the first initials differ ("Петров И." and
      "Петров Сергей"; "Е." stands for "Жека" too, the initials of a name's variants count);

    - both have a patronymic and the patronymics differ (a father and the son named after
      him: "Иван Иванович Петров" and "Иван Сергеевич Петров"), or a patronymic is written
      as an initial on one side and the initials differ ("Сергеев А. А." and "Сергеев
      Дмитрий Петрович");
    - the names tell different genders (husband and wife: "Кузнецов", "Кузнецова").

    A missing name is no evidence either way; names written the other way round ("Petrov
    Ivan") are compatible.

    ``overridden_by`` names columns that identify a person (a national id, a passport
    number): a pair agreeing exactly on one of them is not in conflict, whatever its names.
    """
    threshold = NAME_CONFLICT_SIMILARITY

    def alike(left: str, right: str) -> str:
        return (
            f"({jaro_winkler}({left}, {right}) >= {threshold} "
            f"or {jaro_winkler}({_folded(left)}, {_folded(right)}) >= {threshold})"
        )

    def both(column: str) -> str:
        return f"{column}_l is not null and {column}_r is not null"

    nicknames = (
        cll.ArrayIntersectLevel("first_name_variants", 1)
        .get_comparison_level(sql_dialect)
        .sql_condition
    )
    unlisted_short_form = (
        "((not coalesce(first_name_listed_l, true) or not coalesce(first_name_listed_r, true))"
        " and substr(first_name_l, 1, 1) = substr(first_name_r, 1, 1))"
    )
    first_names_differ = (
        f"({both('first_name')} "
        f"and not ({alike('first_name_l', 'first_name_r')} or coalesce({nicknames}, false)"
        f" or {unlisted_short_form}))"
    )
    last_names_differ = f"({both('last_name')} and not {alike('last_name_l', 'last_name_r')})"
    initials = (
        cll.ArrayIntersectLevel("first_initials", 1).get_comparison_level(sql_dialect).sql_condition
    )
    initials_differ = (
        f"((first_name_l is null or first_name_r is null) and {both('first_initials')} "
        f"and not coalesce({initials}, false))"
    )
    patronymics_differ = (
        f"({both('middle_name')} and not {alike('middle_name_l', 'middle_name_r')})"
        f" or ((middle_name_l is null or middle_name_r is null) and {both('middle_initial')} "
        "and middle_initial_l <> middle_initial_r)"
    )
    genders_differ = f"({both('name_gender')} and name_gender_l <> name_gender_r)"
    swapped = (
        f"({both('first_name')} and {both('last_name')} "
        f"and {alike('first_name_l', 'last_name_r')} and {alike('last_name_l', 'first_name_r')})"
    )
    same_id = "".join(f" or coalesce({c}_l = {c}_r, false)" for c in overridden_by)
    names_differ = (
        f"({first_names_differ} or {last_names_differ} or {initials_differ}) and not ({swapped})"
    )
    return (
        f"((({names_differ}) or ({patronymics_differ}) or {genders_differ}) "
        f"and not (false{same_id}))"
    )


#: The columns `name_conflict_sql` reads, one per side.
PERSON_COLUMNS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "first_name_variants",
    "first_name_listed",
    "middle_name",
    "first_initials",
    "middle_initial",
    "name_gender",
)


def pair_name_columns(extra: Sequence[str] = ()) -> str:
    """The select list that names a self-join's columns as `name_conflict_sql` reads them.

    The join's sides are ``l`` and ``r``; ``extra`` adds columns such as person ids.
    """
    columns = (*PERSON_COLUMNS, *extra)
    return ", ".join(f"l.{c} as {c}_l, r.{c} as {c}_r" for c in columns)
