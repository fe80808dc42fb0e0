"""What an e-mail address says: a free-mail or a corporate mailbox, a disposable one, a
role mailbox (info@, sales@) rather than a person's, and the company a corporate domain
points to."""

from __future__ import annotations

import hashlib

import polars as pl
from disposable_email_domains import blocklist as _DISPOSABLE

from dedup_pipeline.normalize.companies import (
    FREE_EMAIL_DOMAINS,
    TWO_LEVEL_SUFFIXES,
    email_domain_label,
    is_free_mail_domain,
    registrable_domain,
)

__all__ = ["DISPOSABLE_DOMAINS", "EMAIL_ENRICHMENT_SCHEMA", "ROLE_MAILBOXES", "enrich_emails"]

#: Throw-away mail services (the `disposable-email-domains` list).
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(_DISPOSABLE)

#: Local parts that name a function, not a person (Russian transliterations included).
ROLE_MAILBOXES: frozenset[str] = frozenset(
    {
        "info", "sales", "office", "admin", "administrator", "support", "help", "hello",
        "contact", "contacts", "mail", "email", "post", "reception", "marketing", "pr",
        "press", "media", "hr", "jobs", "career", "careers", "team", "billing", "accounts",
        "accounting", "finance", "invoice", "orders", "order", "shop", "store", "service",
        "noreply", "no-reply", "donotreply", "webmaster", "postmaster", "hostmaster",
        "abuse", "security", "it", "legal", "secretary", "manager", "zakaz", "buh",
        "buhgalteria", "buhgalter", "priemnaya", "sekretar", "kadry", "otdel", "prodazhi",
        "snab", "info-ru", "inbox",
    }
)  # fmt: skip

#: One row per distinct normalised address.
EMAIL_ENRICHMENT_SCHEMA: dict[str, pl.DataType] = {
    "email": pl.String(),
    "domain": pl.String(),
    "mailbox": pl.String(),  # "free", "corporate" or "disposable"
    "disposable": pl.Boolean(),
    "role": pl.Boolean(),
    "company_domain": pl.String(),  # the registrable domain of a corporate address
    "company_label": pl.String(),  # its romanised label ('uraltekh.ru' -> 'uralteh')
    "described_with": pl.String(),  # a hash of the lists that classified it
}


def _lists_version() -> str:
    digest = hashlib.sha256()
    for values in (FREE_EMAIL_DOMAINS, DISPOSABLE_DOMAINS, ROLE_MAILBOXES, TWO_LEVEL_SUFFIXES):
        digest.update("\n".join(sorted(values)).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


#: Changes whenever a list that classifies addresses changes (a package upgrade).
LISTS_VERSION = _lists_version()

# Sorted once: polars takes the membership lists as literals.
_DISPOSABLE_LIST = sorted(DISPOSABLE_DOMAINS)
_ROLE_LIST = sorted(ROLE_MAILBOXES)


def enrich_emails(emails: pl.Series, *, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """Classify each distinct address.

    Parameters
    ----------
    emails
        Normalised (lower-case, valid) addresses, as ``emails_normalized`` holds them;
        nulls and repeats are allowed.
    known
        Classifications from an earlier run (`EMAIL_ENRICHMENT_SCHEMA`): addresses found
        there, classified with the same lists, are taken as they are.

    Returns
    -------
    polars.DataFrame
        `EMAIL_ENRICHMENT_SCHEMA`, one row per distinct address. Only a corporate
        address has a ``company_domain``.
    """
    frame = pl.DataFrame(
        {"email": emails.drop_nulls().unique().sort()}, schema={"email": pl.String}
    )
    reused = pl.DataFrame(schema=EMAIL_ENRICHMENT_SCHEMA)
    if known is not None and set(EMAIL_ENRICHMENT_SCHEMA) <= set(known.columns):
        reused = (
            known.select(list(EMAIL_ENRICHMENT_SCHEMA))
            .filter(pl.col("described_with") == LISTS_VERSION)
            .join(frame, on="email", how="semi")
        )
        frame = frame.join(reused.select("email"), on="email", how="anti")
    domain = pl.col("email").str.extract(r"@([^@]+)$").str.strip_chars_end(".")
    local = pl.col("email").str.extract(r"^([^@+]+)")
    disposable = pl.col("domain").is_in(_DISPOSABLE_LIST) | registrable_domain(
        pl.col("domain")
    ).is_in(_DISPOSABLE_LIST).fill_null(False)
    corporate = ~is_free_mail_domain(pl.col("domain")) & ~pl.col("disposable")
    classified = (
        frame.with_columns(domain=domain, local=local)
        .with_columns(disposable=disposable)
        .with_columns(
            mailbox=pl.when(pl.col("disposable"))
            .then(pl.lit("disposable"))
            .when(is_free_mail_domain(pl.col("domain")))
            .then(pl.lit("free"))
            .otherwise(pl.lit("corporate")),
            role=pl.col("local").is_in(_ROLE_LIST).fill_null(False),
            company_domain=pl.when(corporate).then(registrable_domain(pl.col("domain"))),
            company_label=pl.when(corporate).then(email_domain_label(pl.col("domain"))),
            described_with=pl.lit(LISTS_VERSION),
        )
        .select(list(EMAIL_ENRICHMENT_SCHEMA))
    )
    return pl.concat([reused.cast(EMAIL_ENRICHMENT_SCHEMA), classified]).sort("email")  # type: ignore[arg-type]
