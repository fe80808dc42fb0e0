"""Turn contacts into the table Splink compares, with skewed blocking values removed."""

from __future__ import annotations

import polars as pl

from dedup_pipeline.match.identifiers import is_role_mailbox
from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA
from dedup_pipeline.schema import require_columns

__all__ = ["MATCH_INPUT_SCHEMA", "SHARED_IDENTIFIER_SCHEMA", "prepare_match_input"]

_LIST = pl.List(pl.String())

#: The columns Splink sees. Empty lists are null so that Splink's null levels apply.
MATCH_INPUT_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "source": pl.String(),
    "first_name": pl.String(),
    "last_name": pl.String(),
    "first_name_variants": pl.List(pl.String()),
    "full_name": pl.String(),
    "company": pl.String(),
    "city": pl.String(),
    "phones": _LIST,
    "emails": _LIST,
    "phones_block": _LIST,
    "emails_block": _LIST,
    "phone_key": pl.String(),
    "email_key": pl.String(),
    "name_key": pl.String(),
}

#: Identifier values held by too many records to generate pairs from.
SHARED_IDENTIFIER_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "value": pl.String(),
    "record_count": pl.UInt32(),
}


def _frequent_values(contacts: pl.DataFrame, column: str, kind: str, limit: int) -> pl.DataFrame:
    values = contacts.select("record_id", pl.col(column).alias("value"))
    if isinstance(values.schema["value"], pl.List):
        values = values.explode("value")
    counts = (
        values.drop_nulls("value")
        .unique()
        .group_by("value")
        .agg(record_count=pl.len().cast(pl.UInt32))
    )
    return counts.filter(pl.col("record_count") > limit).select(
        pl.lit(kind).alias("kind"), "value", "record_count"
    )


def _without(column: str, excluded: pl.DataFrame) -> pl.Expr:
    return pl.col(column).list.set_difference(pl.lit(excluded.get_column("value").implode()))


def prepare_match_input(
    contacts: pl.DataFrame, *, max_block_size: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build Splink's input table and the list of shared identifiers.

    Parameters
    ----------
    contacts
        Normalised contacts (`CONTACT_SCHEMA`).
    max_block_size
        A phone, e-mail or full name held by more records than this does not generate
        candidate pairs: a switchboard or ``info@`` mailbox would otherwise pair every
        record that carries it with every other (quadratic blow-up). Such records are
        still compared when another rule pairs them. Role mailboxes (``info@``, ``sales@``)
        are left out of matching altogether: they identify a function, not a person.

    Returns
    -------
    tuple of polars.DataFrame
        The match input (`MATCH_INPUT_SCHEMA`) and the shared identifiers
        (`SHARED_IDENTIFIER_SCHEMA`) left out of blocking.
    """
    require_columns(contacts, CONTACT_SCHEMA, table="contacts")
    role = is_role_mailbox(pl.element())
    role_mailboxes = (
        contacts.select(pl.col("emails_normalized").list.eval(pl.element().filter(role)))
        .explode("emails_normalized")
        .drop_nulls()
        .group_by(pl.col("emails_normalized").alias("value"))
        .agg(record_count=pl.len().cast(pl.UInt32))
        .select(pl.lit("role e-mail").alias("kind"), "value", "record_count")
    )
    named = contacts.with_columns(
        pl.col("emails_normalized").list.eval(pl.element().filter(~role)),
    ).with_columns(
        name_key=pl.when(
            pl.col("first_name_key").is_not_null() & pl.col("last_name_key").is_not_null()
        )
        .then(pl.concat_str("first_name_key", "last_name_key", separator=" "))
        .otherwise(None)
    )
    shared_phones = _frequent_values(named, "phones_e164", "phone", max_block_size)
    shared_emails = _frequent_values(named, "emails_normalized", "email", max_block_size)
    shared_names = _frequent_values(named, "name_key", "name", max_block_size)
    shared = pl.concat([shared_phones, shared_emails, shared_names, role_mailboxes]).sort(
        "record_count", descending=True
    )

    def null_if_empty(expr: pl.Expr) -> pl.Expr:
        return pl.when(expr.list.len() > 0).then(expr).otherwise(None)

    match_input = named.select(
        "record_id",
        "source",
        # Script-independent keys: "Юлия Кузнецова" and "Yulia Kuznetsova" compare close.
        pl.col("first_name_key").alias("first_name"),
        pl.col("last_name_key").alias("last_name"),
        "first_name_variants",
        pl.col("full_name_norm").alias("full_name"),
        pl.col("company_norm").alias("company"),
        pl.col("city_norm").alias("city"),
        null_if_empty(pl.col("phones_e164")).alias("phones"),
        null_if_empty(pl.col("emails_normalized")).alias("emails"),
        null_if_empty(_without("phones_e164", shared_phones)).alias("phones_block"),
        null_if_empty(_without("emails_normalized", shared_emails)).alias("emails_block"),
        pl.when(pl.col("name_key").is_in(shared_names.get_column("value").implode()))
        .then(None)
        .otherwise(pl.col("name_key"))
        .alias("name_key"),
    ).with_columns(
        phone_key=pl.col("phones_block").list.first(),
        email_key=pl.col("emails_block").list.first(),
    )
    return match_input.select(list(MATCH_INPUT_SCHEMA)), shared
