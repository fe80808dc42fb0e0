"""CRM connectors: pull contacts from and push merges to Bitrix24, amoCRM and HubSpot."""

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
    "RATE_LIMITS",
    "CrmHttpError",
    "CrmTransport",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "redact",
    "token_from_env",
]
