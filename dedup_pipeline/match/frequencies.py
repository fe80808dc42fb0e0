"""How common a name is among other people, not among records.

Splink weighs an exact agreement by the value's term frequency: the share of records that
hold it. A client with three records makes their own rare name three times as common,
and the more duplicates a person has, the less their agreeing names count: in a small
base every duplicate pair's name looks like a namesake's. Here a value is counted once
per *person*, read as the records tied by a personal phone or e-mail (a fair stand-in for
a person before matching), so "Юлия Емельянова" held by three records of one client is as
rare as it is. Records that share no identifier but a full name the base expects no two
people to hold ("Денис Кузьмин" coming back with a new phone) are one person too:
counted apart, a client returning with new phones would make their own name look common.
Every scoring path (the full run, the nightly run, the lead check)
registers these tables with Splink (`PersonFrequencies`) instead of letting it count
records. A value's frequency counts the people holding it besides one: two records
agreeing on a surname nobody else has share it with no one else, whether or not they are
one person.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from splink import Linker
from splink.internals.database_api import DatabaseAPI

from dedup_pipeline.graph import connected_components_of
from dedup_pipeline.schema import require_columns

__all__ = [
    "PersonFrequencies",
    "person_groups",
    "term_frequency_columns",
    "term_frequency_tables",
]


#: People assumed to hold a value besides those seen (for a value one person holds).
_UNSEEN = 0.5
#: Imagined people of average frequency added to every count (a prior of that weight).
_PRIOR_PEOPLE = 50


def term_frequency_columns(model: dict[str, Any]) -> list[str]:
    """The input columns whose term frequencies a Splink model adjusts by."""
    columns = {
        level["tf_adjustment_column"]
        for comparison in model.get("comparisons", [])
        for level in comparison.get("comparison_levels", [])
        if level.get("tf_adjustment_column")
    }
    return sorted(columns)


def person_groups(match_input: pl.DataFrame) -> pl.DataFrame:
    """``record_id`` and ``person``: records tied by personal phones and e-mails, or by a
    full name rarer than one person.

    A full name ties its records when the base, counting first names and surnames by
    identifier, expects fewer than one person to hold it: its first name's share of people
    times its surname's holders is below one. "Денис Кузьмин" held by three records with
    three phones is then one person; "Александр Иванов" in a million contacts stays the
    many people it is. A record with nothing to tie is a person of its own.
    """
    require_columns(
        match_input,
        ["record_id", "phones_personal", "emails_personal", "first_name", "last_name"],
        table="match input",
    )
    identifiers = pl.concat(
        [
            match_input.select("record_id", value=pl.col(column)).explode("value")
            for column in ("phones_personal", "emails_personal")
        ]
    ).drop_nulls()
    by_identifiers = _connected(match_input, identifiers)
    names = match_input.select("record_id", "first_name", "last_name").join(
        by_identifiers, on="record_id"
    )
    people = max(by_identifiers.get_column("person").n_unique(), 1)
    holders = {
        column: names.drop_nulls(column)
        .group_by(column)
        .agg(pl.col("person").n_unique().alias(f"{column}_holders"))
        for column in ("first_name", "last_name")
    }
    rare_names = (
        names.join(holders["first_name"], on="first_name")
        .join(holders["last_name"], on="last_name")
        .filter(pl.col("first_name_holders") * pl.col("last_name_holders") < people)
        .select("record_id", value=pl.concat_str("first_name", "last_name", separator="\x01"))
    )
    # A name node is keyed apart from any identifier by the separator no value holds.
    return _connected(match_input, pl.concat([identifiers, rare_names]))


def _connected(match_input: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``record_id`` and ``person``: the components of records joined by shared values."""
    # A value node is keyed apart from record ids by a prefix no id starts with.
    values = edges.select(pl.lit("\x00") + pl.col("value")).to_series()
    components = connected_components_of(edges.get_column("record_id"), values)
    return (
        match_input.select("record_id")
        .join(components, left_on="record_id", right_on="node", how="left")
        .select("record_id", person=pl.coalesce("component", "record_id"))
    )


def term_frequency_tables(match_input: pl.DataFrame, columns: list[str]) -> dict[str, pl.DataFrame]:
    """Per column, ``<column>`` and ``tf_<column>``: the share of people holding each value.

    Parameters
    ----------
    match_input
        Every record of the base (the settled ones too, on a nightly run).
    columns
        The columns to count (`term_frequency_columns` of the model).
    """
    people = match_input.join(person_groups(match_input), on="record_id")

    def counted(column: str) -> pl.DataFrame:
        held = people.select("person", column).drop_nulls().unique()
        total = max(held.get_column("person").n_unique(), 1)
        counts = held.group_by(column).agg(people=pl.len().cast(pl.Float64))
        # The chance that two people picked at random agree: what a value seen by too few
        # people is taken to be, until the base says otherwise.
        mean = float((counts.get_column("people") ** 2).sum()) / total**2
        # Among the *other* people: two records agreeing on a surname held by two people
        # in all are, if not one person, the only two with it. `_PRIOR_PEOPLE` imagined
        # people of average frequency keep a small base from calling a name rare because
        # it met it once (a city seen twice in 300 records is not a rare city).
        others = pl.max_horizontal(pl.col("people") - 1, pl.lit(_UNSEEN))
        return counts.select(
            column,
            ((others + _PRIOR_PEOPLE * mean) / (total - 1 + _PRIOR_PEOPLE)).alias(f"tf_{column}"),
        )

    tables = {}
    for column in columns:
        if column == "name_pair":
            tables[column] = _name_pair_frequencies(people, counted)
        else:
            tables[column] = counted(column)
    return tables


def _name_pair_frequencies(
    people: pl.DataFrame, counted: Callable[[str], pl.DataFrame]
) -> pl.DataFrame:
    """A whole name's frequency as its first name's times its surname's.

    Counted as a pair, a name seen once is as rare as the base is small: "Александр
    Иванов" met once in a thousand records would count as a rare name. The product of the
    two names' frequencies knows "Александр" is common whatever the surname.
    """
    first, last = counted("first_name"), counted("last_name")
    pairs = people.select("name_pair", "first_name", "last_name").drop_nulls().unique()
    return (
        pairs.join(first, on="first_name")
        .join(last, on="last_name")
        .group_by("name_pair")
        .agg((pl.col("tf_first_name") * pl.col("tf_last_name")).max().alias("tf_name_pair"))
    )


class PersonFrequencies:
    """Person-counted term frequencies of a base, registered once with a database.

    Parameters
    ----------
    db_api
        The database the linkers work in.
    match_input
        Every record of the base.
    model
        A model or settings dict: its term-frequency columns are counted.
    """

    def __init__(self, db_api: DatabaseAPI, match_input: pl.DataFrame, model: dict[str, Any]):
        tables = term_frequency_tables(match_input, term_frequency_columns(model))
        self._registered = {
            column: db_api.register(table.to_arrow(), table_name=f"__person_tf_{column}")
            for column, table in tables.items()
        }

    def apply(self, linker: Linker) -> Linker:
        """Make ``linker`` score with these frequencies; return it."""
        for column, registered in self._registered.items():
            linker.table_management.register_term_frequency_lookup(registered, column)
        return linker
