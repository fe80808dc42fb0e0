"""Open the connector a source's ``crm`` block describes."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from dedup_pipeline.config import CrmConnection, CrmKind, SourceConfig
from dedup_pipeline.crm.amocrm import AmoCrmConnector
from dedup_pipeline.crm.bitrix24 import Bitrix24Connector
from dedup_pipeline.crm.connector import CrmConnector
from dedup_pipeline.crm.hubspot import HubSpotConnector
from dedup_pipeline.crm.transport import (
    RATE_LIMITS,
    CrmTransport,
    RateLimit,
    RetryPolicy,
    token_from_env,
)

__all__ = ["merges_are_final", "open_connector", "transport_for"]

_CONNECTORS = {
    CrmKind.BITRIX24: Bitrix24Connector,
    CrmKind.AMOCRM: AmoCrmConnector,
    CrmKind.HUBSPOT: HubSpotConnector,
}


def merges_are_final(connection: CrmConnection) -> bool:
    """Whether a merge pushed to this CRM deletes the merged cards for good (undo can only
    create them again, under new ids and without their history)."""
    if connection.kind is CrmKind.AMOCRM:
        return connection.losers == "delete"  # tagged losers stay in the account
    return bool(_CONNECTORS[connection.kind].merges_are_final)


def transport_for(
    connection: CrmConnection,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CrmTransport:
    """The rate-limited, retrying transport to the CRM, its token read from the environment."""
    token = token_from_env(connection.token_env)
    limit = (
        RateLimit(calls=connection.rate_limit.calls, period=connection.rate_limit.period)
        if connection.rate_limit
        else RATE_LIMITS[connection.kind.value]
    )
    options = {
        "limit": limit,
        "retry": RetryPolicy(attempts=connection.attempts),
        "client": client,
        "timeout": connection.timeout,
        "sleep": sleep,
    }
    if connection.kind is CrmKind.BITRIX24:
        # An inbound webhook carries its secret in the path instead of a header.
        return CrmTransport(f"{connection.url}/{token}", **options)  # type: ignore[arg-type]
    return CrmTransport(connection.url, token=token, **options)  # type: ignore[arg-type]


def open_connector(
    source: SourceConfig,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CrmConnector:
    """The connector for ``source`` (which must have a ``crm`` block).

    Raises
    ------
    ValueError
        When the source is not a CRM.
    CrmHttpError
        When the token's environment variable is not set.
    """
    if source.crm is None:
        raise ValueError(f"source {source.name!r} has no 'crm' block: it is not a CRM")
    connection = source.crm
    transport = transport_for(connection, client=client, sleep=sleep)
    if connection.kind is CrmKind.BITRIX24:
        return Bitrix24Connector(
            transport, connection=connection, default_region=source.default_region
        )
    if connection.kind is CrmKind.AMOCRM:
        return AmoCrmConnector(
            transport, connection=connection, default_region=source.default_region
        )
    return HubSpotConnector(transport, connection=connection, default_region=source.default_region)
