"""Enrichment stage: what phones and e-mails say about a client, on the golden profile.

`enrich_phones` and `enrich_emails` describe distinct values (one Python call per distinct
phone, polars expressions for e-mails); `enrich_profiles` summarises them per golden
profile; `client_history` gives each client's first and last contact and channels.
"""

from dedup_pipeline.enrich.emails import (
    DISPOSABLE_DOMAINS,
    EMAIL_ENRICHMENT_SCHEMA,
    ROLE_MAILBOXES,
    enrich_emails,
)
from dedup_pipeline.enrich.history import CLIENT_HISTORY_SCHEMA, client_history
from dedup_pipeline.enrich.phones import PHONE_ENRICHMENT_SCHEMA, enrich_phones
from dedup_pipeline.enrich.profiles import PROFILE_ENRICHMENT_SCHEMA, enrich_profiles

__all__ = [
    "CLIENT_HISTORY_SCHEMA",
    "DISPOSABLE_DOMAINS",
    "EMAIL_ENRICHMENT_SCHEMA",
    "PHONE_ENRICHMENT_SCHEMA",
    "PROFILE_ENRICHMENT_SCHEMA",
    "ROLE_MAILBOXES",
    "client_history",
    "enrich_emails",
    "enrich_phones",
    "enrich_profiles",
]
