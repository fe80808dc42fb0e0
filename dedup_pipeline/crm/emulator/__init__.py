"""A local CRM emulator: contacts, deals and merges, served in each CRM's protocol.

`Bitrix24Emulator`, `AmoCrmEmulator` and `HubSpotEmulator` serve a `CrmState` over the
CRM's real request and response shapes; `EmulatorServer` runs one on localhost;
`sample_emulators` seeds all three from the bundled sample (``dedup crm-emulator``).
"""

from dedup_pipeline.crm.emulator.amocrm import AmoCrmEmulator
from dedup_pipeline.crm.emulator.app import Bucket, CrmEmulator, LoggedRequest
from dedup_pipeline.crm.emulator.bitrix24 import Bitrix24Emulator
from dedup_pipeline.crm.emulator.faults import Fault, Faults
from dedup_pipeline.crm.emulator.hubspot import HubSpotEmulator
from dedup_pipeline.crm.emulator.sample import sample_emulators
from dedup_pipeline.crm.emulator.seed import seed_from_records, seed_from_source
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import (
    SINGLE_VALUED_FIELDS,
    CrmState,
    Deal,
    EmulatedContact,
    MergeOutcome,
)

__all__ = [
    "SINGLE_VALUED_FIELDS",
    "AmoCrmEmulator",
    "Bitrix24Emulator",
    "Bucket",
    "CrmEmulator",
    "CrmState",
    "Deal",
    "EmulatedContact",
    "EmulatorServer",
    "Fault",
    "Faults",
    "HubSpotEmulator",
    "LoggedRequest",
    "MergeOutcome",
    "sample_emulators",
    "seed_from_records",
    "seed_from_source",
]
