"""A push never drops a golden value quietly: what a CRM has no field for goes into a note on
the survivor's card (and the push report), in every CRM."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.ledger import PushLedger
from dedup_pipeline.crm.push import push_instructions
from dedup_pipeline.survivorship.instructions import MERGE_INSTRUCTION_SCHEMA
from tests.test_crm_undo import EMULATORS, _connector

# What each CRM's contact has no place for, of the golden values below.
UNSTORED = {
    "bitrix24": ["company: ООО «Ромашка»", "city: Казань"],
    "amocrm": ["middle name: Петрович", "company: ООО «Ромашка»", "city: Казань"],
    "hubspot": ["phones: +79120000033"],
}


@pytest.mark.parametrize("kind", sorted(EMULATORS))
def test_values_a_crm_cannot_hold_are_noted_on_the_survivor(kind):
    state = CrmState()
    survivor = state.add_contact(first_name="Иван", phones=["+79120000011"])
    loser = state.add_contact(first_name="Иван", phones=["+79120000022"])
    golden = {
        "first_name": "Иван",
        "middle_name": "Петрович",
        "company": "ООО «Ромашка»",
        "city": "Казань",
        "phones": ["+79120000011", "+79120000022", "+79120000033"],
    }
    row = {
        "instruction_id": f"CL1/{kind}", "cluster_id": "CL1", "source": kind, "action": "merge",
        "survivor_record_id": str(survivor.id), "merged_record_ids": [str(loser.id)],
        "set_fields": golden, "confidence": 1.0, "outcome": "auto_merge",
        "cluster_record_ids": [],
    }  # fmt: skip
    instructions = pl.DataFrame([row], schema=MERGE_INSTRUCTION_SCHEMA)
    emulator = EMULATORS[kind](state, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        connector = _connector(kind, server)
        plan = push_instructions(
            instructions, source=kind, connector=connector, ledger=PushLedger(duckdb.connect())
        )
        paths = [r["path"] for r in plan.planned[0]["requests"]]
        assert any("notes" in p or "comment" in p for p in paths), paths
        assert not state.notes
        report = push_instructions(
            instructions, source=kind, connector=connector,
            ledger=PushLedger(duckdb.connect()), apply=True,
        )  # fmt: skip
        connector.close()
    assert report.applied == 1
    (note,) = [text for owner, text in state.notes.values()]
    owner = next(iter(state.notes.values()))[0]
    assert owner in state.contacts  # the survivor (HubSpot may re-number it)
    for value in UNSTORED[kind]:
        assert value in note
