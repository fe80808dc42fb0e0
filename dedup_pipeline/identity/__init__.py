"""Client identity across runs: stable client ids, redirects and their history."""

from dedup_pipeline.identity.ids import (
    CLIENT_EVENT_SCHEMA,
    CLIENT_REGISTRY_SCHEMA,
    MEMBERSHIP_SCHEMA,
    ClientIdentity,
    IdEvent,
    IdStatus,
    reconcile_client_ids,
    resolve_client_ids,
    with_client_ids,
)

__all__ = [
    "CLIENT_EVENT_SCHEMA",
    "CLIENT_REGISTRY_SCHEMA",
    "MEMBERSHIP_SCHEMA",
    "ClientIdentity",
    "IdEvent",
    "IdStatus",
    "reconcile_client_ids",
    "resolve_client_ids",
    "with_client_ids",
]
