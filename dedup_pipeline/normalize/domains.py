"""Misspelt mail domains: "yadex.ru", "gmail.con", "hotmail.co.k" -> the provider meant.

A domain that few records use and that is one typo away from a mail provider many records
use in the same data is read as that provider, for matching only (the address as written
stays on the contact). Corporate domains are used by several records and are left alone.
"""

from __future__ import annotations

import duckdb
import polars as pl

from dedup_pipeline.normalize.companies import FREE_EMAIL_DOMAINS

__all__ = ["correct_domain_typos", "domain_typo_fixes"]

#: A provider must be this common in the data to attract corrections, and a domain this
#: rare to be corrected.
_COMMON, _RARE = 3, 2


def domain_typo_fixes(emails: pl.Series, *, known: pl.Series | None = None) -> pl.DataFrame:
    """Misspelt domain -> provider, learnt from the addresses themselves.

    Parameters
    ----------
    emails
        ``List[str]`` of normalised addresses per record.
    known
        ``List[str]`` of addresses of other records (a nightly run's settled ones): they
        count towards how common a domain is, but only domains in ``emails`` are corrected.

    Returns
    -------
    polars.DataFrame
        ``domain`` and ``provider``: a domain used by at most two records that is one edit
        (two for names of ten letters or more) from a free-mail provider used by three or
        more records.
    """

    def domains_of(addresses: pl.Series) -> pl.Series:
        return addresses.explode().drop_nulls().str.split("@").list.last().rename("domain")

    own = domains_of(emails)
    used = own if known is None else pl.concat([own, domains_of(known)])
    domains = used.value_counts(name="records")
    free = pl.col("domain").is_in(sorted(FREE_EMAIL_DOMAINS))
    providers = domains.filter(free & (pl.col("records") >= _COMMON)).select("domain")
    rare = domains.filter(~free & (pl.col("records") <= _RARE))
    if known is not None:
        rare = rare.filter(pl.col("domain").is_in(own.unique().implode()))
    rare = rare.select("domain")
    if providers.is_empty() or rare.is_empty():
        return pl.DataFrame(schema={"domain": pl.String, "provider": pl.String})
    with duckdb.connect() as connection:
        connection.register("providers", providers.to_arrow())
        connection.register("rare", rare.to_arrow())
        return connection.sql(
            """
            select r.domain, arg_min(p.domain, damerau_levenshtein(r.domain, p.domain)) as provider
            from rare r, providers p
            where damerau_levenshtein(r.domain, p.domain)
                  <= case when length(p.domain) >= 10 then 2 else 1 end
            group by r.domain
            """
        ).pl()


def correct_domain_typos(emails: pl.Expr, fixes: pl.DataFrame) -> pl.Expr:
    """Rewrite the misspelt domains of a ``List[str]`` of addresses with `domain_typo_fixes`."""
    if fixes.is_empty():
        return emails
    mapping = dict(fixes.select("domain", "provider").iter_rows())
    return emails.list.eval(
        pl.concat_str(
            pl.element().str.split("@").list.first(),
            pl.element().str.split("@").list.last().replace(mapping),
            separator="@",
        )
    )
