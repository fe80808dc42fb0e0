"""What the contacts' phones and e-mails say: one row per distinct value."""

import polars as pl
from dagster import Output, asset

from assets.metadata import markdown_table
from assets.resources import DuckDBWarehouse, PipelineSettings
from dedup_pipeline.enrich import enrich_emails, enrich_phones
from dedup_pipeline.enrich.numbering_plan import load_numbering_plan

__all__ = ["email_enrichment", "phone_enrichment"]


@asset(group_name="enrichment")
def phone_enrichment(
    warehouse: DuckDBWarehouse, settings: PipelineSettings, contacts: pl.DataFrame
) -> Output:
    """Country, region, time zones, carrier and line type of every valid phone."""
    # A number's description changes only with phonenumbers' data: numbers described
    # before with the same data are not looked up again, in a full sweep too.
    known = warehouse.read_tables("phone_enrichment").get("phone_enrichment")
    if known is not None and "described_with" not in known.columns:
        known = None
    plan = load_numbering_plan(settings.config.enrich.numbering_plan)
    phones = enrich_phones(contacts["phones_e164"].explode(), known=known, plan=plan)
    per_country = phones.group_by("country").len().sort("len", descending=True).head(10)
    return Output(
        phones,
        metadata={
            "phones": phones.height,
            "with_region": int(phones["region_en"].is_not_null().sum()),
            "with_one_time_zone": int(phones["time_zone"].is_not_null().sum()),
            "numbering_plan": "loaded" if plan is not None else "not loaded",
            "top_countries": markdown_table(per_country),
        },
    )


@asset(group_name="enrichment")
def email_enrichment(warehouse: DuckDBWarehouse, contacts: pl.DataFrame) -> Output:
    """Free, corporate or disposable mailbox, role mailbox and company domain of every
    valid e-mail."""
    # Addresses classified before with the same lists keep their classification.
    known = warehouse.read_tables("email_enrichment").get("email_enrichment")
    emails = enrich_emails(contacts["emails_normalized"].explode(), known=known)
    kinds = emails.group_by("mailbox").len().sort("mailbox")
    return Output(
        emails,
        metadata={
            "emails": emails.height,
            "mailboxes": markdown_table(kinds),
            "role_mailboxes": int(emails["role"].sum()),
        },
    )
