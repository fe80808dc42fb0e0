"""``dedup push undo`` takes a pushed merge back in each CRM, from the ledger's snapshot:
the survivor's own values, every merged card with its phones and e-mails, every deal on
the card it belonged to; and it says what a CRM cannot give back."""

from __future__ import annotations

import copy
import json

import duckdb
import polars as pl
import pytest

from dedup_pipeline.config import CrmConnection
from dedup_pipeline.crm.amocrm import AmoCrmConnector
from dedup_pipeline.crm.bitrix24 import Bitrix24Connector
from dedup_pipeline.crm.connector import CrmContact
from dedup_pipeline.crm.emulator.amocrm import AmoCrmEmulator
from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.bitrix24 import Bitrix24Emulator
from dedup_pipeline.crm.emulator.hubspot import HubSpotEmulator
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.hubspot import HubSpotConnector
from dedup_pipeline.crm.ledger import PushLedger, PushStatus
from dedup_pipeline.crm.push import push_instructions
from dedup_pipeline.crm.transport import CrmTransport, RateLimit, RetryPolicy
from dedup_pipeline.crm.undo import UndoSelection, restore_values, undo_pushes
from dedup_pipeline.crm.values import phone_key
from dedup_pipeline.survivorship.instructions import MERGE_INSTRUCTION_SCHEMA

FAST = {"limit": RateLimit(calls=1000, period=1.0), "retry": RetryPolicy(base_delay=0.01)}
CLIENTS = 3


def _seed(state: CrmState, source: str) -> pl.DataFrame:
    """Per client: a survivor, two duplicates with their own deals, one shared deal."""
    rows = []
    for n in range(CLIENTS):
        survivor = state.add_contact(
            first_name="Иван", last_name=f"Петров{n}", phones=[f"+7912000{n:02d}00"]
        )
        mobile = state.add_contact(
            first_name="Иван", phones=[f"+7912000{n:02d}11"], emails=[f"ivan{n}@mail.ru"]
        )
        work = state.add_contact(last_name=f"Петров{n}", emails=[f"petrov{n}@firm.ru"])
        state.add_deal(f"mobile {n}", (mobile.id,))
        state.add_deal(f"work {n}", (work.id,))
        state.add_deal(f"shared {n}", (survivor.id, work.id))
        rows.append(
            {
                "instruction_id": f"CL{n:04d}/{source}",
                "cluster_id": f"CL{n:04d}",
                "source": source,
                "action": "merge",
                "survivor_record_id": str(survivor.id),
                "merged_record_ids": [str(mobile.id), str(work.id)],
                "set_fields": {
                    "first_name": "Иван",
                    "last_name": f"Петров{n}",
                    "phones": [f"+7912000{n:02d}00", f"+7912000{n:02d}11"],
                    "emails": [f"ivan{n}@mail.ru", f"petrov{n}@firm.ru"],
                },
                "confidence": 0.999,
                "outcome": "auto_merge",
                "cluster_record_ids": [],
            }
        )
    return pl.DataFrame(rows, schema=MERGE_INSTRUCTION_SCHEMA)


def _connector(kind: str, server: EmulatorServer):
    emulator = server.emulator
    if kind == "bitrix24":
        return Bitrix24Connector(CrmTransport(f"{server.url}/rest/1/{emulator.token}", **FAST))
    transport = CrmTransport(server.url, token=emulator.token, **FAST)
    if kind == "amocrm":
        settings = CrmConnection(kind="amocrm", url=server.url, token_env="AMO_TOKEN")
        return AmoCrmConnector(transport, connection=settings)
    return HubSpotConnector(transport, default_region="RU")


EMULATORS = {"bitrix24": Bitrix24Emulator, "amocrm": AmoCrmEmulator, "hubspot": HubSpotEmulator}


@pytest.fixture(params=sorted(EMULATORS))
def pushed(request):
    """A CRM after a push that merged three clients' duplicates, and its ledger."""
    kind = request.param
    state = CrmState()
    instructions = _seed(state, kind)
    before = copy.deepcopy(state)
    emulator = EMULATORS[kind](state, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        connector = _connector(kind, server)
        ledger = PushLedger(duckdb.connect())
        report = push_instructions(
            instructions, source=kind, connector=connector, ledger=ledger, apply=True
        )
        assert report.applied == CLIENTS
        try:
            yield kind, emulator, connector, ledger, before, report.run
        finally:
            connector.close()


def _visible(state: CrmState) -> list[tuple]:
    """Cards as a user sees them (ids aside): names, phones, e-mails, deal titles."""
    cards = []
    for contact in state.contacts.values():
        if "merged-duplicate" in contact.tags:
            continue
        deals = sorted(d.title for d in state.deals_of(contact.id))
        phones = sorted(phone_key(p, region="RU") for p in contact.phones)
        cards.append(
            (contact.first_name, contact.last_name, tuple(phones), contact.emails, tuple(deals))
        )
    return sorted(cards, key=repr)


def test_undo_of_a_push_run_brings_back_every_card_with_its_values_and_deals(pushed):
    kind, emulator, connector, ledger, before, run = pushed
    merged = _visible(emulator.state)
    assert len(merged) == CLIENTS

    plan = undo_pushes(
        ledger, source=kind, connector=connector, selection=UndoSelection(push_run=run),
        region="RU",
    )  # fmt: skip
    assert _visible(emulator.state) == merged  # a dry run sends nothing
    assert plan.selected == CLIENTS and len(plan.planned) == CLIENTS

    report = undo_pushes(
        ledger, source=kind, connector=connector, selection=UndoSelection(push_run=run),
        region="RU", apply=True,
    )  # fmt: skip
    assert report.failed == 0 and report.restored + report.partly_restored == CLIENTS
    expected = _visible(before)
    if kind == "bitrix24":
        # Bitrix24's API here does not move deals back: said so, per merged card.
        expected = [(*card[:4], ()) for card in expected]
        assert all("deals" in note for notes in report.not_restored.values() for note in notes)
        assert [c[:4] for c in _visible(emulator.state)] == [c[:4] for c in expected]
    else:
        assert _visible(emulator.state) == expected
    assert len(report.cards) == 2 * CLIENTS
    if kind == "amocrm":  # tagged losers come back under their own ids
        assert all(old == new for old, new in report.cards.items())
        assert report.restored == CLIENTS and not report.merges_are_final
    else:  # merged away for good: created again, and the report says so
        assert report.merges_are_final and report.partly_restored == CLIENTS
        assert all(old != new for old, new in report.cards.items())
        assert all("final" in notes[0] for notes in report.not_restored.values())

    statuses = ledger.entries().get_column("status").unique().to_list()
    assert statuses == [PushStatus.UNDONE]
    # An undone merge is not made again by the next push, nor undone twice.
    again = push_instructions(
        _seed(CrmState(), kind), source=kind, connector=connector, ledger=ledger, apply=True
    )
    assert (again.applied, again.settled) == (0, CLIENTS)
    twice = undo_pushes(
        ledger, source=kind, connector=connector, selection=UndoSelection(everything=True),
        region="RU", apply=True,
    )  # fmt: skip
    assert twice.selected == 0


def test_undo_by_cluster_takes_back_only_that_cluster(pushed):
    kind, emulator, connector, ledger, _, _ = pushed
    report = undo_pushes(
        ledger, source=kind, connector=connector, selection=UndoSelection(clusters=["CL0001"]),
        region="RU", apply=True,
    )  # fmt: skip
    assert report.selected == 1
    entries = dict(ledger.entries().select("instruction_id", "status").iter_rows())
    assert entries == {
        f"CL0000/{kind}": PushStatus.APPLIED,
        f"CL0001/{kind}": PushStatus.UNDONE,
        f"CL0002/{kind}": PushStatus.APPLIED,
    }
    assert len(_visible(emulator.state)) == CLIENTS + 2
    undone = json.loads(ledger.entries().filter(pl.col("status") == "undone")["answer"][0])
    assert set(undone["cards"]) == set(report.cards)


def test_undo_says_what_it_would_do_and_needs_a_selection():
    with pytest.raises(ValueError, match="say what to undo"):
        UndoSelection()


def test_the_survivor_keeps_what_a_person_changed_since_the_push():
    before = CrmContact("1", first_name="Ivan", phones=("+79120000000",))
    loser = CrmContact("2", first_name="Vanya", phones=("8 912 000-00-11",))
    pushed = {"first_name": "Иван", "phones": ["+79120000000", "+79120000011"]}
    now = CrmContact(
        "1", first_name="Иван Сергеевич",  # renamed by a person after the push
        phones=("+79120000000", "+79120000011", "+79990000000"),  # and a number added
    )  # fmt: skip
    values = restore_values(before, now, [loser], pushed, region="RU")
    assert "first_name" not in values
    assert values["phones"] == ["+79120000000", "+79990000000"]
    untouched = CrmContact("1", first_name="Иван", phones=now.phones)
    assert restore_values(before, untouched, [loser], pushed, region="RU")["first_name"] == "Ivan"


def test_amocrm_trashed_duplicates_are_created_again_with_their_leads():
    state = CrmState()
    instructions = _seed(state, "amocrm")
    before = copy.deepcopy(state)
    emulator = AmoCrmEmulator(state, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        transport = CrmTransport(server.url, token=emulator.token, **FAST)
        settings = CrmConnection(
            kind="amocrm", url=server.url, token_env="AMO_TOKEN", losers="delete"
        )
        connector = AmoCrmConnector(transport, connection=settings)
        ledger = PushLedger(duckdb.connect())
        push_instructions(
            instructions, source="amocrm", connector=connector, ledger=ledger, apply=True
        )
        assert len(emulator.trash) == 2 * CLIENTS
        report = undo_pushes(
            ledger, source="amocrm", connector=connector,
            selection=UndoSelection(everything=True), region="RU", apply=True,
        )  # fmt: skip
        connector.close()
    assert report.merges_are_final and report.partly_restored == CLIENTS
    assert all("trash" in notes[0] for notes in report.not_restored.values())
    assert _visible(state) == _visible(before)


def test_hubspot_undo_leaves_an_address_both_cards_held_with_the_survivor():
    # HubSpot gives an address to one contact: the duplicate comes back without it.
    state = CrmState()
    survivor = state.add_contact(first_name="Иван", emails=["ivan@mail.ru"])
    loser = state.add_contact(first_name="Иван", emails=["IVAN@mail.ru", "ivan@work.ru"])
    # A second duplicate with the first one's work address.
    third = state.add_contact(first_name="Иван", emails=["Ivan@Work.ru"], phones=["+79120000001"])
    row = {
        "instruction_id": "CL1/hubspot", "cluster_id": "CL1", "source": "hubspot",
        "action": "merge", "survivor_record_id": str(survivor.id),
        "merged_record_ids": [str(loser.id), str(third.id)],
        "set_fields": {"emails": ["ivan@mail.ru"]},
        "confidence": 1.0, "outcome": "auto_merge", "cluster_record_ids": [],
    }  # fmt: skip
    emulator = HubSpotEmulator(state, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        connector = _connector("hubspot", server)
        ledger = PushLedger(duckdb.connect())
        instructions = pl.DataFrame([row], schema=MERGE_INSTRUCTION_SCHEMA)
        push_instructions(
            instructions, source="hubspot", connector=connector, ledger=ledger, apply=True
        )
        report = undo_pushes(
            ledger, source="hubspot", connector=connector,
            selection=UndoSelection(everything=True), region="RU", apply=True,
        )  # fmt: skip
        connector.close()
    assert (report.partly_restored, report.failed) == (1, 0)
    assert "IVAN@mail.ru stays with another card" in report.not_restored["CL1/hubspot"][0]
    back = state.contacts[int(report.cards[str(loser.id)])]
    assert back.emails == ("ivan@work.ru",)
    assert state.contacts[int(report.cards[str(third.id)])].phones == ("+79120000001",)
    assert state.contacts[survivor.id].emails == ("ivan@mail.ru",)
