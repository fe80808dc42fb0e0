"""The golden profile, enriched: where the client is and their local time (from the
phones), which carriers and line types, what kind of mailboxes, and the company a
corporate e-mail domain points to."""

from __future__ import annotations

import phonenumbers
import polars as pl

from dedup_pipeline.enrich.emails import EMAIL_ENRICHMENT_SCHEMA, LISTS_VERSION
from dedup_pipeline.enrich.phones import PHONE_ENRICHMENT_SCHEMA
from dedup_pipeline.schema import require_columns

__all__ = ["PROFILE_ENRICHMENT_SCHEMA", "enrich_profiles"]

_LIST = pl.List(pl.String())

#: Columns `enrich_profiles` adds to each golden profile.
PROFILE_ENRICHMENT_SCHEMA: dict[str, pl.DataType] = {
    "phone_country": pl.String(),  # of the most trusted phone
    "phone_region_ru": pl.String(),  # of the most trusted phone that names a region
    "phone_region_en": pl.String(),
    "time_zone": pl.String(),  # of the most trusted phone with a single time zone
    "phone_carriers": _LIST,
    "phone_line_types": _LIST,
    "email_mailboxes": _LIST,  # free, corporate, disposable
    "company_domains": _LIST,
    "suggested_company": pl.String(),
    "disposable_emails": _LIST,
    "role_emails": _LIST,
    # The profile's version and the data that described it: equal, the summary is too.
    "enrichment_version": pl.String(),
}

#: The columns that depend on the profile alone (not `suggested_company`, which depends
#: on the other profiles at the same domain).
_OWN_COLUMNS = [name for name in PROFILE_ENRICHMENT_SCHEMA if name not in ("suggested_company",)]


def _first(column: str) -> pl.Expr:
    return pl.col(column).drop_nulls().first()


def _distinct(column: str) -> pl.Expr:
    return pl.col(column).drop_nulls().unique(maintain_order=True)


def _described(
    profiles: pl.DataFrame, values: pl.Expr, key: str, descriptions: pl.DataFrame
) -> pl.DataFrame:
    """One row per value of each profile's list, with its description, in list order
    (most trusted first)."""
    return (
        profiles.select("cluster_id", values.alias(key))
        .explode(key)
        .with_row_index("position")
        .join(descriptions, on=key, how="inner")
        .sort("position")
    )


def _phone_summary(profiles: pl.DataFrame, phones: pl.DataFrame) -> pl.DataFrame:
    described = _described(profiles, pl.col("phones"), "phone_e164", phones)
    return described.group_by("cluster_id").agg(
        phone_country=_first("country"),
        phone_region_ru=_first("region_ru"),
        phone_region_en=_first("region_en"),
        time_zone=_first("time_zone"),
        phone_carriers=_distinct("carrier_en"),
        phone_line_types=_distinct("line_type"),
    )


def _email_summary(profiles: pl.DataFrame, emails: pl.DataFrame) -> pl.DataFrame:
    lowered = pl.col("emails").list.eval(pl.element().str.to_lowercase())
    described = _described(profiles, lowered, "email", emails)
    return described.group_by("cluster_id").agg(
        email_mailboxes=_distinct("mailbox"),
        company_domains=_distinct("company_domain"),
        disposable_emails=pl.col("email").filter(pl.col("disposable")),
        role_emails=pl.col("email").filter(pl.col("role")),
    )


def _suggested_companies(profiles: pl.DataFrame) -> pl.DataFrame:
    """Per profile without a company: the company most profiles sharing its first
    corporate domain give (ties by name), if any does."""
    first_domain = profiles.select(
        "cluster_id", "company", domain=pl.col("company_domains").list.first()
    ).filter(pl.col("domain").is_not_null())
    by_domain = (
        first_domain.filter(pl.col("company").is_not_null())
        .group_by("domain", "company")
        .len()
        .sort(["domain", "len", "company"], descending=[False, True, False])
        .group_by("domain", maintain_order=True)
        .agg(suggested_company=pl.col("company").first())
    )
    return (
        first_domain.filter(pl.col("company").is_null())
        .join(by_domain, on="domain")
        .select("cluster_id", "suggested_company")
    )


def _enrichment_version() -> pl.Expr:
    return pl.format(
        "{}-{}-{}",
        pl.col("profile_version"),
        pl.lit(phonenumbers.__version__),
        pl.lit(LISTS_VERSION),
    )


def enrich_profiles(
    profiles: pl.DataFrame,
    *,
    phones: pl.DataFrame,
    emails: pl.DataFrame,
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add `PROFILE_ENRICHMENT_SCHEMA` columns to golden profiles.

    Parameters
    ----------
    profiles
        Golden profiles (``cluster_id``, ``profile_version``, ``company``, ``phones`` and
        ``emails``, most trusted first).
    phones
        `enrich_phones` of (at least) the profiles' phones.
    emails
        `enrich_emails` of (at least) the profiles' addresses.
    previous
        The last run's enriched profiles: a profile with the same ``enrichment_version``
        (same profile version, same phonenumbers data and mail lists) keeps its summary,
        and only the others are described, which is what makes a nightly run cheap.

    Returns
    -------
    polars.DataFrame
        The profiles with the enrichment columns (replaced when present). Lists are empty,
        never null; ``suggested_company`` is set only for a profile without a company whose
        corporate domain other profiles name a company for.
    """
    require_columns(
        profiles,
        ["cluster_id", "profile_version", "company", "phones", "emails"],
        table="profiles",
    )
    require_columns(phones, PHONE_ENRICHMENT_SCHEMA, table="phone enrichment")
    require_columns(emails, EMAIL_ENRICHMENT_SCHEMA, table="e-mail enrichment")
    base = profiles.drop([c for c in PROFILE_ENRICHMENT_SCHEMA if c in profiles.columns])
    versions = base.select("cluster_id", enrichment_version=_enrichment_version())
    own_schema = {
        "cluster_id": pl.String(),
        **{c: PROFILE_ENRICHMENT_SCHEMA[c] for c in _OWN_COLUMNS},
    }
    kept = pl.DataFrame(schema=own_schema)
    if previous is not None and "enrichment_version" in previous.columns:
        kept = (
            previous.select(list(own_schema))
            .join(versions, on=["cluster_id", "enrichment_version"], how="semi")
            .cast(own_schema)  # type: ignore[arg-type]
        )
    described = base.join(kept, on="cluster_id", how="anti")
    summary = (
        versions.join(described.select("cluster_id"), on="cluster_id", how="semi")
        .join(_phone_summary(described, phones), on="cluster_id", how="left")
        .join(_email_summary(described, emails), on="cluster_id", how="left")
    )
    lists = [name for name, dtype in PROFILE_ENRICHMENT_SCHEMA.items() if dtype == _LIST]
    summary = summary.with_columns(
        [pl.col(name).fill_null(pl.lit([], dtype=_LIST)) for name in lists]
    )
    own = pl.concat([kept.select("cluster_id", *_OWN_COLUMNS), summary], how="diagonal_relaxed")
    enriched = base.join(own, on="cluster_id", how="left")
    enriched = enriched.join(_suggested_companies(enriched), on="cluster_id", how="left")
    return enriched.select([*base.columns, *PROFILE_ENRICHMENT_SCHEMA]).cast(
        PROFILE_ENRICHMENT_SCHEMA  # type: ignore[arg-type]
    )
