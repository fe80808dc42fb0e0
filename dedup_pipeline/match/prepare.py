"""Turn contacts into the table Splink compares.

Two things happen here besides renaming columns:

* **Shared identifiers are found in the data.** A phone or mailbox is *shared* when the
  records holding it carry names of different people (colleagues on a switchboard, a
  family's home phone), when it is a role mailbox (``info@``, ``sales@``), or when more
  than ``max_block_size`` records hold it. Shared values stay comparable but count as weak
  evidence (their own comparison level); personal values count as strong evidence.
* **Skewed values are kept out of blocking**, so one switchboard cannot generate a
  quadratic number of candidate pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from dedup_pipeline.config import ExtraFieldConfig
from dedup_pipeline.match.conflicts import PERSON_COLUMNS, name_conflict_sql, pair_name_columns
from dedup_pipeline.match.identifiers import is_role_mailbox
from dedup_pipeline.normalize.companies import (
    company_compact_key,
    company_key,
    corporate_domain_labels,
    is_free_mail_domain,
)
from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA
from dedup_pipeline.normalize.domains import correct_domain_typos, domain_typo_fixes
from dedup_pipeline.normalize.extra import extra_field_columns
from dedup_pipeline.normalize.nicknames import is_listed_first_name
from dedup_pipeline.schema import require_columns

__all__ = [
    "MATCH_INPUT_SCHEMA",
    "NAME_BLOCKS",
    "SHARED_IDENTIFIER_SCHEMA",
    "NameBlock",
    "company_evidence",
    "match_input_columns",
    "name_block_keys",
    "person_columns",
    "prepare_match_input",
    "rare_limit",
]

_LIST = pl.List(pl.String())

#: The columns Splink sees (extra fields follow, one column each and one ``<name>_block``
#: column for those used in blocking). Empty lists are null so Splink's null levels apply.
MATCH_INPUT_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "source": pl.String(),
    "first_name": pl.String(),
    "last_name": pl.String(),
    "first_name_variants": _LIST,
    "first_name_listed": pl.Boolean(),
    "middle_name": pl.String(),
    "first_initials": _LIST,
    "middle_initial": pl.String(),
    "name_gender": pl.String(),
    "name_pair": pl.String(),
    "full_name": pl.String(),
    "company": pl.String(),
    "company_evidence": _LIST,
    "company_rare": _LIST,
    "city": pl.String(),
    "phones": _LIST,
    "emails": _LIST,
    "phones_personal": _LIST,
    "emails_personal": _LIST,
    "phones_few": _LIST,
    "emails_few": _LIST,
    "phones_block": _LIST,
    "emails_block": _LIST,
    "phone_key": pl.String(),
    "email_key": pl.String(),
    "email_key_digits": pl.String(),
    "email_key_separators": pl.String(),
    "email_key_provider": pl.String(),
    "name_key": pl.String(),
    "last_name_block": pl.String(),
    "first_name_city_block": pl.String(),
    "first_name_initial_block": pl.String(),
    "variant_name_block": _LIST,
    "variant_patronymic_block": _LIST,
}

#: Identifier values that are weak evidence or too common to block on, with the reason.
SHARED_IDENTIFIER_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "value": pl.String(),
    "record_count": pl.UInt32(),
    "reason": pl.String(),
    "blocked": pl.Boolean(),
}

_ROLE = "role mailbox"
_DIFFERENT_NAMES = "held by people with different names"


@dataclass(frozen=True)
class NameBlock:
    """A blocking rule on keys made from a record's names.

    Attributes
    ----------
    rule
        Its name in ``blocking_counts`` and in scored pairs' ``match_key``.
    column
        The match input column it blocks on; keys held by too many records are left out.
    rare
        The key blocks only while held by a tenth of ``max_block_size`` at most (a surname
        alone is weak); otherwise up to ``max_block_size``.
    listed
        The column holds several keys per record (one per name a first name stands for).
    """

    rule: str
    column: str
    rare: bool = False
    listed: bool = False


#: Every blocking rule made from names, in the order they generate pairs: the one place
#: the match stage, the nightly run and the lead check read them from (`name_block_keys`
#: computes their keys).
NAME_BLOCKS: tuple[NameBlock, ...] = (
    NameBlock("same first and last name", "name_key"),
    NameBlock("same rare last name", "last_name_block", rare=True),
    NameBlock("same rare first name in a city", "first_name_city_block", rare=True),
    NameBlock("same first name and surname initial, rare", "first_name_initial_block", rare=True),
    # "Лёша Иванов" and "Алексей Иванов": any name a first name stands for.
    NameBlock("same surname, first names alike", "variant_name_block", listed=True),
    # "Анастасия Владимировна" and "Анастасия Владимировна Голломанева".
    NameBlock("same patronymic, first names alike", "variant_patronymic_block", listed=True),
)


def _joined_with_variants(frame: pl.DataFrame, other: str) -> pl.Series:
    """Per row, ``"<variant> <other>"`` for each first-name variant (null without one)."""
    rows = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), "first_name_variants", other
    )
    keys = (
        rows.explode("first_name_variants")
        .drop_nulls(["first_name_variants", other])
        .group_by("_row")
        .agg(
            pl.concat_str("first_name_variants", other, separator=" ").unique().sort().alias("key")
        )
    )
    return (
        rows.select("_row")
        .join(keys, on="_row", how="left", maintain_order="left")
        .get_column("key")
    )


def name_block_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """The keys of every `NAME_BLOCKS` rule for each row, none left out yet.

    Parameters
    ----------
    frame
        Match input columns ``first_name``, ``last_name``, ``middle_name``, ``city`` and
        ``first_name_variants`` (of the match input, or of contacts renamed so).

    Returns
    -------
    polars.DataFrame
        One column per rule (`NameBlock.column`), one row per row of ``frame``.
    """
    both = pl.col("first_name").is_not_null() & pl.col("last_name").is_not_null()
    scalar = frame.select(
        name_key=pl.when(both).then(pl.concat_str("first_name", "last_name", separator=" ")),
        last_name_block=pl.col("last_name"),
        first_name_city_block=pl.concat_str("first_name", "city", separator=" @ "),
        # "Ivan P." and "Ivan Petrov", "Ivan Petrof": one first name, one surname initial.
        first_name_initial_block=pl.when(both).then(
            pl.concat_str("first_name", pl.col("last_name").str.slice(0, 1), separator=" ")
        ),
    )
    return scalar.with_columns(
        variant_name_block=_joined_with_variants(frame, "last_name"),
        variant_patronymic_block=_joined_with_variants(frame, "middle_name"),
    ).select(block.column for block in NAME_BLOCKS)


def email_key_fields() -> list[pl.Expr]:
    """What of a record's first personal e-mail (``email_key``) a typo leaves alone.

    Two addresses within two typos are one mailbox typed twice only if letters changed,
    not the address's format: namesakes get ``k.kozlov@``, ``kkozlov@``, ``k_kozlov@``
    and ``kozlov73@`` from one provider, and ``a.smirnova@bk.ru`` and
    ``a.smirnova@ya.ru`` are two mailboxes too. Hence the digits, the separators of the
    local part in order, and the free-mail provider: all must agree for a typo. A digit
    typed into a company's domain ("@myer7s.com") is a typo like any other.
    """
    local = pl.col("email_key").str.split("@").list.first()
    domain = pl.col("email_key").str.split("@").list.last()
    return [
        local.str.replace_all(r"\D", "").alias("email_key_digits"),
        local.str.replace_all(r"[^._+\-]", "").alias("email_key_separators"),
        pl.when(is_free_mail_domain(domain)).then(domain).alias("email_key_provider"),
    ]


def company_evidence() -> pl.Expr:
    """The company as written and the corporate mail domains people use, over contacts.

    Both are evidence of where someone works ("ЗАО Уралтех" ~ "...@uraltekh.ru").
    """
    return pl.concat_list(
        pl.concat_list(company_compact_key(pl.col("company_norm"))).list.drop_nulls(),
        corporate_domain_labels(
            pl.col("emails_normalized").fill_null(pl.lit([], dtype=pl.List(pl.String)))
        ),
    ).list.unique(maintain_order=True)


def person_columns() -> list[pl.Expr]:
    """`PERSON_COLUMNS` from normalised contacts."""
    return [
        pl.col("first_name_key").alias("first_name"),
        pl.col("last_name_key").alias("last_name"),
        pl.col("first_name_variants"),
        is_listed_first_name(pl.col("first_name_key")).alias("first_name_listed"),
        pl.col("middle_name_key").alias("middle_name"),
        # The first name's initial, and those of the names it can stand for ("Жека": ж, е).
        # A record with initials only has no variants: a null list would null the whole.
        pl.concat_list(
            pl.col("name_initials").str.slice(0, 1).replace("_", None),
            pl.col("first_name_variants")
            .fill_null(pl.lit([], dtype=pl.List(pl.String)))
            .list.eval(pl.element().str.slice(0, 1)),
        )
        .list.drop_nulls()
        .list.unique()
        .list.sort()
        .pipe(_null_if_empty)
        .alias("first_initials"),
        # "Петров И." has no second initial: slicing it gives "", which is no initial.
        pl.col("name_initials").str.slice(1, 1).replace(["_", ""], None).alias("middle_initial"),
        pl.col("name_gender"),
    ]


def _holders(
    contacts: pl.DataFrame,
    persons: pl.DataFrame,
    column: str,
    prepared: pl.DataFrame | None,
    prepared_column: str,
) -> pl.DataFrame:
    """One row per (value, record) with the record's names (``persons``, row by row).

    With ``prepared`` (match input of records not prepared now), their holdings of the
    values ``contacts`` hold are added: a value is judged on every record that holds it.
    """
    holders = (
        contacts.select("record_id", pl.col(column).alias("value"))
        .hstack(persons)
        .explode("value")
        .drop_nulls("value")
    )
    if prepared is not None:
        others = (
            prepared.select(
                "record_id",
                pl.col(prepared_column).alias("value"),
                *PERSON_COLUMNS,
            )
            .explode("value")
            .join(holders.select("value").unique(), on="value", how="semi")
        )
        holders = pl.concat([holders, others])
    return holders.unique(["value", "record_id"])


def _values_of_different_people(
    holders: pl.DataFrame,
    counts: pl.DataFrame,
    connection: duckdb.DuckDBPyConnection,
    max_block_size: int,
) -> pl.DataFrame:
    """Values whose holders include two records with conflicting names."""
    # Values above the block size are shared anyway; pairing their holders would be costly.
    candidates = counts.filter(pl.col("record_count").is_between(2, max_block_size))
    named = holders.join(candidates.select("value"), on="value", how="semi").filter(
        pl.any_horizontal(
            pl.col(c).is_not_null() for c in ("first_name", "last_name", "name_gender")
        )
    )
    connection.register("holders", named.to_arrow())
    try:
        conflict = name_conflict_sql("jaro_winkler_similarity")
        values = connection.sql(
            f"""
            select distinct value from (
                select l.value, {pair_name_columns()}
                from holders l join holders r
                  on l.value = r.value and l.record_id < r.record_id
            ) where {conflict}
            """
        ).pl()
    finally:
        connection.unregister("holders")
    return counts.join(values, on="value", how="semi")


def _shared_values(
    holders: pl.DataFrame,
    kind: str,
    *,
    connection: duckdb.DuckDBPyConnection,
    max_block_size: int,
    role: pl.Expr | None = None,
) -> pl.DataFrame:
    counts = holders.group_by("value").agg(record_count=pl.len().cast(pl.UInt32))
    parts = [
        counts.filter(pl.col("record_count") > max_block_size).with_columns(
            reason=pl.format("held by more than {} records", pl.lit(max_block_size))
        ),
        _values_of_different_people(holders, counts, connection, max_block_size).with_columns(
            reason=pl.lit(_DIFFERENT_NAMES)
        ),
    ]
    if role is not None:
        # The most telling reason first: a role mailbox is shared by definition.
        parts.insert(0, counts.filter(role).with_columns(reason=pl.lit(_ROLE)))
    return (
        pl.concat(parts)
        .unique("value", keep="first", maintain_order=True)
        .select(
            pl.lit(kind).alias("kind"),
            "value",
            "record_count",
            "reason",
            blocked=pl.col("record_count") <= max_block_size,
        )
    )


def rare_limit(max_block_size: int) -> int:
    """Records that may hold a value for it to count as rare: a tenth of the block size.

    A surname, a first name in a city, a company or mail domain, a shared phone or
    mailbox held by this many records at most is telling; more, and it is common.
    """
    return max(2, max_block_size // 10)


def _list_without(
    frame: pl.DataFrame, column: str, values: pl.Series, *, keep: bool = False
) -> pl.Series:
    """``column``'s lists without ``values`` (only ``values`` with ``keep``), null where
    nothing is left.

    Exploded and regrouped: a set difference against a long literal list is evaluated row
    by row and costs seconds per hundred thousand records.
    """
    exploded = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), column)
    listed = pl.col(column).is_in(values.implode())
    kept = (
        exploded.explode(column)
        .filter(pl.col(column).is_not_null() & (listed if keep else ~listed))
        .group_by("row")
        .agg(pl.col(column))
    )
    return (
        exploded.select("row")
        .join(kept, on="row", how="left", maintain_order="left")
        .get_column(column)
    )


def match_input_columns(extra_fields: Mapping[str, ExtraFieldConfig] | None) -> list[str]:
    """The match input's columns: `MATCH_INPUT_SCHEMA`, each extra field, and a ``_block``
    column for each extra field used in blocking."""
    fields = dict(extra_fields or {})
    blocked = [f"{name}_block" for name, field in fields.items() if field.blocking]
    return [*MATCH_INPUT_SCHEMA, *fields, *blocked]


def _null_if_empty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.list.len() > 0).then(expr).otherwise(None)


def prepare_match_input(
    contacts: pl.DataFrame,
    *,
    max_block_size: int,
    extra_fields: Mapping[str, ExtraFieldConfig] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    prepared: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build Splink's input table and the list of shared identifiers.

    Parameters
    ----------
    contacts
        Normalised contacts (`CONTACT_SCHEMA`).
    max_block_size
        A phone, e-mail, full name or extra-field value held by more records than this
        does not generate candidate pairs (a switchboard would otherwise pair every record
        that carries it with every other). Such records are still compared when another
        rule pairs them.
    extra_fields
        Extra fields to compare, read from the contacts' ``extra`` column.
    connection
        DuckDB connection for finding shared identifiers (a scratch one when omitted).
    prepared
        The match input of records prepared before and not prepared again (a nightly
        run's settled records, from the last run). They count wherever the base as a whole
        decides: how many records hold a value and whether their names conflict, how
        common a mail domain or a blocking key is. Their own rows are not rebuilt, so a
        value that becomes shared tonight is weak evidence in tonight's pairs only;
        the next full run re-judges it for all.

    Returns
    -------
    tuple of polars.DataFrame
        The match input of ``contacts`` (`MATCH_INPUT_SCHEMA` plus extra fields) and the
        shared identifiers among the values they hold (`SHARED_IDENTIFIER_SCHEMA`).
    """
    require_columns(contacts, CONTACT_SCHEMA, table="contacts")
    extra_fields = dict(extra_fields or {})
    blocked_names = [name for name, field in extra_fields.items() if field.blocking]
    if prepared is not None:
        require_columns(
            prepared, [*MATCH_INPUT_SCHEMA, *extra_fields], table="the prepared match input"
        )
    # "olga@yadex.ru" is "olga@yandex.ru" for matching; the contact keeps what was written.
    fixes = domain_typo_fixes(
        contacts.get_column("emails_normalized"),
        known=None if prepared is None else prepared.get_column("emails"),
    )
    contacts = contacts.with_columns(
        correct_domain_typos(pl.col("emails_normalized"), fixes).list.unique(maintain_order=True)
    )
    # What tells people apart, computed once: shared-value checks, blocking keys and the
    # match input all read it.
    persons = contacts.select(*person_columns())
    own_connection = connection is None

    connection = duckdb.connect() if connection is None else connection
    try:
        shared_phones = _shared_values(
            _holders(contacts, persons, "phones_e164", prepared, "phones"),
            "phone",
            connection=connection,
            max_block_size=max_block_size,
        )
        shared_emails = _shared_values(
            _holders(contacts, persons, "emails_normalized", prepared, "emails"),
            "email",
            connection=connection,
            max_block_size=max_block_size,
            role=is_role_mailbox(pl.col("value")),
        )
    finally:
        if own_connection:
            connection.close()

    named = contacts.with_columns(
        *extra_field_columns(pl.col("extra"), extra_fields),
        company_evidence=company_evidence(),
    )
    # A company or mail domain many people share (a big employer, an example.com) says
    # little about who someone is: only rare evidence counts as "the same workplace".
    evidence_limit = rare_limit(max_block_size)
    evidence = named.select(value=pl.col("company_evidence")).explode("value")
    if prepared is not None:
        evidence = pl.concat(
            [evidence, prepared.select(value=pl.col("company_evidence")).explode("value")]
        )
    common_evidence = (
        evidence.drop_nulls()
        .group_by("value")
        .len()
        .filter(pl.col("len") > evidence_limit)
        .get_column("value")
    )

    keys = name_block_keys(persons.with_columns(city=contacts.get_column("city_key")))
    own = keys.hstack(named.select(*blocked_names))
    counted = own
    if prepared is not None:
        counted = pl.concat(
            [own, name_block_keys(prepared).hstack(prepared.select(*blocked_names))]
        )

    def key_counts(column: str) -> pl.DataFrame:
        """Records of the base per value of key ``column``, for the values ``contacts`` hold."""
        values = counted.select(pl.int_range(pl.len()).alias("row"), column)
        held = own.select(column)
        if isinstance(counted.schema[column], pl.List):
            values, held = values.explode(column), held.explode(column)
        held = held.drop_nulls().unique()
        return (
            values.drop_nulls(column)
            .unique()
            .join(held, on=column, how="semi")
            .group_by(pl.col(column).alias("value"))
            .agg(record_count=pl.len().cast(pl.UInt32))
        )

    def common_values(column: str, limit: int) -> pl.Series:
        return key_counts(column).filter(pl.col("record_count") > limit).get_column("value")

    shared_names = (
        key_counts("name_key")
        .filter(pl.col("record_count") > max_block_size)
        .select(
            pl.lit("name").alias("kind"),
            "value",
            "record_count",
            reason=pl.format("held by more than {} records", pl.lit(max_block_size)),
            blocked=pl.lit(False),
        )
    )
    blocks = []
    for block in NAME_BLOCKS:
        # A surname, or a first name in a city, is weak: it blocks only while rare (held by
        # a tenth of the block size at most).
        limit = rare_limit(max_block_size) if block.rare else max_block_size
        common = common_values(block.column, limit)
        if block.listed:
            blocks.append(_list_without(keys, block.column, common).alias(block.column))
        else:
            blocks.append(
                pl.when(keys.get_column(block.column).is_in(common.implode()))
                .then(None)
                .otherwise(keys.get_column(block.column))
                .alias(block.column)
            )
    for name in blocked_names:
        common = common_values(name, max_block_size)
        blocks.append(
            pl.when(pl.col(name).is_in(common.implode())).then(None).otherwise(pl.col(name))
            .alias(f"{name}_block")
        )  # fmt: skip
    shared = pl.concat([shared_phones, shared_emails, shared_names]).sort(
        "record_count", "kind", "value", descending=[True, False, False]
    )

    def unblocked(frame: pl.DataFrame) -> pl.Series:
        return frame.filter(~pl.col("blocked")).get_column("value")

    def few(frame: pl.DataFrame) -> pl.Series:
        limit = rare_limit(max_block_size)
        return frame.filter(pl.col("record_count") <= limit).get_column("value")

    match_input = (
        named.select(
            "record_id",
            "source",
            # Script-independent keys: "Юлия Кузнецова" and "Yulia Kuznetsova" compare close.
            *persons.get_columns(),
            # The whole name, for how common it is (term frequencies).
            pl.concat_str("first_name_key", "last_name_key", separator=" ").alias("name_pair"),
            pl.col("full_name_norm").alias("full_name"),
            company_key(pl.col("company_norm")).alias("company"),
            _null_if_empty(pl.col("company_evidence")).alias("company_evidence"),
            _list_without(named, "company_evidence", common_evidence).alias("company_rare"),
            # "Питер" and "St. Petersburg" are one city.
            pl.col("city_key").alias("city"),
            _null_if_empty(pl.col("phones_e164")).alias("phones"),
            _null_if_empty(pl.col("emails_normalized")).alias("emails"),
            _list_without(named, "phones_e164", shared_phones["value"]).alias("phones_personal"),
            _list_without(named, "emails_normalized", shared_emails["value"]).alias(
                "emails_personal"
            ),
            # A home phone of a family or a small office's mailbox is stronger evidence than
            # a switchboard a thousand records carry: a level of its own, whatever the
            # base's size (`identifier_comparison`).
            _list_without(named, "phones_e164", few(shared_phones), keep=True).alias("phones_few"),
            _list_without(named, "emails_normalized", few(shared_emails), keep=True).alias(
                "emails_few"
            ),
            _list_without(named, "phones_e164", unblocked(shared_phones)).alias("phones_block"),
            _list_without(named, "emails_normalized", unblocked(shared_emails)).alias(
                "emails_block"
            ),
            *extra_fields,
            *blocks,
        )
        .with_columns(
            # Training pairs come from personal identifiers only: a switchboard would teach the
            # model that colleagues' names disagree on true matches.
            phone_key=pl.col("phones_personal").list.first(),
            email_key=pl.col("emails_personal").list.first(),
        )
        .with_columns(email_key_fields())
    )
    return match_input.select(match_input_columns(extra_fields)), shared
