"""CRM connectors: pull contacts from and push merges to Bitrix24, amoCRM and HubSpot."""

from dedup_pipeline.crm.ledger import LEDGER_SCHEMA, PushLedger, PushStatus, instruction_versions
from dedup_pipeline.crm.transport import (
    RATE_LIMITS,
    CrmHttpError,
    CrmTransport,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    redact,
    token_from_env,
)

__all__ = [
    "LEDGER_SCHEMA",
    "RATE_LIMITS",
    "CrmHttpError",
    "CrmTransport",
    "PushLedger",
    "PushStatus",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "instruction_versions",
    "redact",
    "token_from_env",
]
