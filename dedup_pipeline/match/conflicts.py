"""When do two records' names belong to different people?

The same test serves twice: it tells which phones and mailboxes are shared by different
people (so they weigh less as evidence), and it keeps pairs with conflicting names out of
automatic merges however much else they share.
"""

from __future__ import annotations

from collections.abc import Sequence

import splink.comparison_level_library as cll

__all__ = ["NAME_CONFLICT_SIMILARITY", "name_conflict_sql", "pair_name_columns"]

#: Name similarity below which two present names count as different people's.
NAME_CONFLICT_SIMILARITY = 0.8


def name_conflict_sql(
    jaro_winkler: str, sql_dialect: str = "duckdb", *, overridden_by: Sequence[str] = ()
) -> str:
    """SQL that is true when a pair's names belong to different people.

    The pair's columns are ``first_name_l``, ``first_name_r``, ``last_name_l``,
    ``last_name_r``, ``first_name_variants_l`` and ``first_name_variants_r`` (Splink's
    naming). Names conflict when both records have a last name and the last names differ
    (colleagues on one switchboard, "Mary Smith" and "Mary Morris"), or both have a first
    name and the first names are neither alike nor nicknames of one another (family
    members sharing a home phone, "Валентина" and "Александр Андреев" on one office line).
    A missing name is no evidence either way; names written the other way round ("Petrov
    Ivan") are compatible.

    ``overridden_by`` names columns that identify a person (a national id, a passport
    number): a pair agreeing exactly on one of them is not in conflict, whatever its names.
    """
    threshold = NAME_CONFLICT_SIMILARITY

    def alike(left: str, right: str) -> str:
        return f"{jaro_winkler}({left}, {right}) >= {threshold}"

    nicknames = (
        cll.ArrayIntersectLevel("first_name_variants", 1)
        .get_comparison_level(sql_dialect)
        .sql_condition
    )
    first_names_differ = (
        "(first_name_l is not null and first_name_r is not null "
        f"and not ({alike('first_name_l', 'first_name_r')} or coalesce({nicknames}, false)))"
    )
    last_names_differ = (
        "(last_name_l is not null and last_name_r is not null "
        f"and not {alike('last_name_l', 'last_name_r')})"
    )
    swapped = (
        "(first_name_l is not null and first_name_r is not null "
        "and last_name_l is not null and last_name_r is not null "
        f"and {alike('first_name_l', 'last_name_r')} and {alike('last_name_l', 'first_name_r')})"
    )
    same_id = "".join(f" or coalesce({c}_l = {c}_r, false)" for c in overridden_by)
    return f"(({first_names_differ} or {last_names_differ}) and not ({swapped}{same_id}))"


def pair_name_columns(extra: Sequence[str] = ()) -> str:
    """The select list that names a self-join's columns as `name_conflict_sql` reads them.

    The join's sides are ``l`` and ``r``; ``extra`` adds columns such as person ids.
    """
    columns = ("first_name", "last_name", "first_name_variants", *extra)
    return ", ".join(f"l.{c} as {c}_l, r.{c} as {c}_r" for c in columns)
