"""Normalize stage: phones to E.164, e-mails validated, names and companies case-folded."""

from dedup_pipeline.normalize.contacts import CONTACT_SCHEMA, NormalizedContacts, normalize_contacts
from dedup_pipeline.normalize.emails import EMAIL_VALUES_SCHEMA, normalize_email_values
from dedup_pipeline.normalize.phones import PHONE_VALUES_SCHEMA, normalize_phone_values
from dedup_pipeline.normalize.text import (
    normalize_company,
    normalize_name,
    normalize_text,
    transliterate_name,
)

__all__ = [
    "CONTACT_SCHEMA",
    "EMAIL_VALUES_SCHEMA",
    "PHONE_VALUES_SCHEMA",
    "NormalizedContacts",
    "normalize_company",
    "normalize_contacts",
    "normalize_email_values",
    "normalize_name",
    "normalize_phone_values",
    "normalize_text",
    "transliterate_name",
]
