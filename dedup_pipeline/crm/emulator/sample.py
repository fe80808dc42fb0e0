"""The three emulated CRMs seeded from the bundled sample exports (``dedup crm-emulator``,
``dedup crm-demo`` and the end-to-end tests)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dedup_pipeline.config import PipelineConfig
from dedup_pipeline.crm.emulator.amocrm import AmoCrmEmulator
from dedup_pipeline.crm.emulator.app import CrmEmulator
from dedup_pipeline.crm.emulator.bitrix24 import Bitrix24Emulator
from dedup_pipeline.crm.emulator.hubspot import HubSpotEmulator
from dedup_pipeline.crm.emulator.seed import seed_from_source

__all__ = ["DEFAULT_TOKEN", "EMULATOR_TOKEN_ENV", "PROTOCOL_FIELDS", "sample_emulators"]

#: The environment variable each CRM's token is read from in configs/crm_demo.yaml.
EMULATOR_TOKEN_ENV: dict[str, str] = {
    "bitrix24": "BITRIX24_WEBHOOK_SECRET",
    "amocrm": "AMOCRM_TOKEN",
    "hubspot": "HUBSPOT_TOKEN",
}
#: The token the emulators accept when its variable is unset.
DEFAULT_TOKEN = "emulator-token"

#: The single-valued contact fields each CRM's protocol carries (companies and
#: addresses are separate records in Bitrix24 and amoCRM).
PROTOCOL_FIELDS: dict[str, tuple[str, ...]] = {
    "bitrix24": ("first_name", "middle_name", "last_name"),
    "amocrm": ("first_name", "last_name"),
    "hubspot": ("first_name", "last_name", "company", "city"),
}

# Which sample export seeds each CRM: amoCRM plays a second CRM holding the clients the
# Bitrix24 portal holds.
_SEED_SOURCE = {"bitrix24": "bitrix24", "amocrm": "bitrix24", "hubspot": "hubspot"}


def sample_emulators(
    sample: PipelineConfig, *, tokens: Mapping[str, str] | None = None
) -> dict[str, CrmEmulator]:
    """A Bitrix24, an amoCRM and a HubSpot emulator seeded from ``sample``'s exports.

    Parameters
    ----------
    sample
        A configuration with file sources named ``bitrix24`` and ``hubspot``
        (configs/sample.yaml).
    tokens
        Token per CRM; by default from `EMULATOR_TOKEN_ENV`, else `DEFAULT_TOKEN`.
    """
    sources = {source.name: source for source in sample.sources}
    missing = sorted(set(_SEED_SOURCE.values()) - set(sources))
    if missing:
        raise ValueError(f"the seed configuration lacks the sources {', '.join(missing)}")
    tokens = tokens or {
        kind: os.environ.get(variable) or DEFAULT_TOKEN
        for kind, variable in EMULATOR_TOKEN_ENV.items()
    }
    classes: dict[str, type[CrmEmulator]] = {
        "bitrix24": Bitrix24Emulator,
        "amocrm": AmoCrmEmulator,
        "hubspot": HubSpotEmulator,
    }
    return {
        kind: emulator(
            seed_from_source(sources[_SEED_SOURCE[kind]], fields=PROTOCOL_FIELDS[kind]),
            token=tokens[kind],
        )
        for kind, emulator in classes.items()
    }
