"""A local CRM emulator: contacts, deals and merges, served in each CRM's protocol."""

from dedup_pipeline.crm.emulator.state import (
    SINGLE_VALUED_FIELDS,
    CrmState,
    Deal,
    EmulatedContact,
    MergeOutcome,
)

__all__ = ["SINGLE_VALUED_FIELDS", "CrmState", "Deal", "EmulatedContact", "MergeOutcome"]
