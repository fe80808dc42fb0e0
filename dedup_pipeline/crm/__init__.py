"""CRM connectors: pull contacts from and push merges to Bitrix24, amoCRM and HubSpot.

`pull_crm_sources` and `push_crm_sources` are what ``dedup pull`` and ``dedup push`` run;
`pull_source` and `push_instructions` do the same for one connector. Connectors implement
`CrmConnector` over a rate-limited, retrying `CrmTransport`; every push outcome goes to
the `PushLedger`. `dedup_pipeline.crm.emulator` serves each CRM's protocol on localhost.
"""

from dedup_pipeline.crm.connect import open_connector, transport_for
from dedup_pipeline.crm.connector import (
    CrmConnector,
    CrmContact,
    MergeStep,
    PlannedRequest,
    StepOutcome,
)
from dedup_pipeline.crm.ledger import LEDGER_SCHEMA, PushLedger, PushStatus, instruction_versions
from dedup_pipeline.crm.pull import PULLED_CONTACT_SCHEMA, PullReport, pull_source
from dedup_pipeline.crm.push import PushReport, push_instructions
from dedup_pipeline.crm.sync import crm_sources, ledger_entries, pull_crm_sources, push_crm_sources
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
    "PULLED_CONTACT_SCHEMA",
    "RATE_LIMITS",
    "CrmConnector",
    "CrmContact",
    "CrmHttpError",
    "CrmTransport",
    "MergeStep",
    "PlannedRequest",
    "PullReport",
    "PushLedger",
    "PushReport",
    "PushStatus",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "StepOutcome",
    "crm_sources",
    "instruction_versions",
    "ledger_entries",
    "open_connector",
    "pull_crm_sources",
    "pull_source",
    "push_crm_sources",
    "push_instructions",
    "redact",
    "token_from_env",
    "transport_for",
]
