"""Pushing merge instructions is safe: a dry run changes nothing, every outcome is in the
ledger, and a push that fails half-way resumes to the same end state without merging
anything twice. Pulls keep the export in step with the CRM. (Bitrix24 emulator; the
other CRMs go through the same push in tests/test_crm_flow.py.)"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from dedup_pipeline.config import SourceConfig
from dedup_pipeline.crm.bitrix24 import Bitrix24Connector
from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.bitrix24 import Bitrix24Emulator
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.ledger import PushLedger, PushStatus
from dedup_pipeline.crm.pull import pull_source, pull_state_path
from dedup_pipeline.crm.push import push_instructions
from dedup_pipeline.crm.transport import CrmTransport, RateLimit, RetryPolicy
from dedup_pipeline.crm.values import phone_key
from dedup_pipeline.survivorship.instructions import MERGE_INSTRUCTION_SCHEMA

SECRET = "s3cret"
CLIENTS = 60  # three batches of 25 instructions


def _instruction(n: int, survivor: int, losers: list[int], **set_fields) -> dict:
    ids = [survivor, *losers]
    return {
        "instruction_id": f"CL{n:010d}/bitrix24",
        "cluster_id": f"CL{n:010d}",
        "source": "bitrix24",
        "action": "merge" if losers else "update",
        "survivor_record_id": str(survivor),
        "merged_record_ids": [str(i) for i in losers],
        "set_fields": set_fields,
        "confidence": 0.995,
        "outcome": "auto_merge",
        "cluster_record_ids": [f"bitrix24:{i}" for i in ids],
    }


def _seed() -> tuple[CrmState, pl.DataFrame]:
    state = CrmState()
    rows = []
    for n in range(CLIENTS):
        survivor = state.add_contact(first_name="Иван", last_name=f"Клиент{n}",
                                     phones=[f"8 (912) 000-{n:02d}-00"])  # fmt: skip
        loser = state.add_contact(first_name="Иван", emails=[f"c{n}@example.ru"],
                                  phones=[f"+7 495 000-{n:02d}-11"])  # fmt: skip
        state.add_deal(f"Deal of {n}", (loser.id,))
        losers = [loser.id]
        if n % 3 == 0:
            third = state.add_contact(last_name=f"Клиент{n}", emails=[f"C{n}@Example.ru"])
            state.add_deal(f"Second deal of {n}", (third.id, survivor.id))
            losers.append(third.id)
        golden = {"phones": [f"+7912000{n:02d}00", f"+7495000{n:02d}11"],
                  "emails": [f"c{n}@example.ru"]}  # fmt: skip
        rows.append(_instruction(n, survivor.id, losers, **golden))
    return state, pl.DataFrame(rows, schema=MERGE_INSTRUCTION_SCHEMA)


def _cards(state: CrmState) -> dict:
    """What a user sees in the CRM, timestamps aside."""
    contacts = {
        i: (c.first_name, c.last_name, c.phones, c.emails) for i, c in state.contacts.items()
    }
    deals = {i: d.contact_ids for i, d in state.deals.items()}
    return {"contacts": contacts, "deals": deals}


@pytest.fixture
def crm():
    state, instructions = _seed()
    emulator = Bitrix24Emulator(state, token=SECRET, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        transport = CrmTransport(
            f"{server.url}/rest/1/{SECRET}",
            limit=RateLimit(calls=1000, period=1.0),
            retry=RetryPolicy(attempts=3, base_delay=0.01),
        )
        yield emulator, Bitrix24Connector(transport), instructions


def _push(connector, instructions, ledger, *, apply=True):
    return push_instructions(
        instructions, source="bitrix24", connector=connector, ledger=ledger, apply=apply
    )


def test_a_dry_run_changes_nothing_and_shows_every_request(crm):
    emulator, connector, instructions = crm
    before = _cards(emulator.state)
    ledger = PushLedger(duckdb.connect())
    report = _push(connector, instructions, ledger, apply=False)
    assert _cards(emulator.state) == before
    assert ledger.entries().is_empty()
    assert len(report.planned) == CLIENTS
    first = report.planned[0]
    assert [r["path"] for r in first["requests"]] == ["crm.contact.update", "crm.entity.mergeBatch"]


def test_applied_push_leaves_one_card_per_client_with_every_phone_email_and_deal(crm):
    emulator, connector, instructions = crm
    before = copy.deepcopy(emulator.state)
    report = _push(connector, instructions, PushLedger(duckdb.connect()))
    assert (report.applied, report.failed, report.conflicts) == (CLIENTS, 0, 0)
    state = emulator.state
    assert len(state.contacts) == CLIENTS
    for row in instructions.iter_rows(named=True):
        ids = [int(row["survivor_record_id"]), *map(int, row["merged_record_ids"])]
        survivor = state.contacts[ids[0]]
        assert not any(i in state.contacts for i in ids[1:])
        had = [before.contacts[i] for i in ids]
        assert {phone_key(p, region="RU") for c in had for p in c.phones} <= {
            phone_key(p, region="RU") for p in survivor.phones
        }
        assert {e.lower() for c in had for e in c.emails} <= {e.lower() for e in survivor.emails}
        deals = {d.id for i in ids for d in before.deals_of(i)}
        assert deals == {d.id for d in state.deals_of(survivor.id)}


def test_a_push_that_fails_half_way_resumes_to_the_same_state_without_merging_twice(crm):
    emulator, connector, instructions = crm
    pristine = copy.deepcopy(emulator.state)
    clean = Bitrix24Emulator(copy.deepcopy(pristine), token=SECRET)
    with EmulatorServer(clean) as server:
        transport = CrmTransport(f"{server.url}/rest/1/{SECRET}", limit=RateLimit(1000, 1.0))
        _push(Bitrix24Connector(transport), instructions, PushLedger(duckdb.connect()))

    # The CRM fails for good from the second write batch on: one read of the cards and
    # three of their notes (a command per card), then per batch a write, and two reads and
    # a write tidying the merged survivors.
    emulator.faults.inject("status", path="batch", status=500, skip=8, count=100)
    ledger = PushLedger(duckdb.connect())
    stopped = _push(connector, instructions, ledger)
    assert stopped.stopped is not None
    assert stopped.applied == 25
    statuses = ledger.entries()["status"].value_counts().sort("status").rows()
    assert statuses == [(PushStatus.APPLIED, 25), (PushStatus.FAILED, 25)]

    emulator.faults.clear()
    resumed = _push(connector, instructions, ledger)
    assert (resumed.settled, resumed.applied, resumed.failed) == (25, CLIENTS - 25, 0)
    assert _cards(emulator.state) == _cards(clean.state)
    merged = [loser for _, losers in emulator.state.merge_log for loser in losers]
    assert sorted(merged) == sorted(set(merged))  # no card merged twice
    assert sorted(emulator.state.merge_log) == sorted(clean.state.merge_log)
    assert _push(connector, instructions, ledger).settled == CLIENTS  # nothing left to do


def test_a_lost_answer_is_recognised_as_applied_and_not_merged_again(crm):
    emulator, connector, instructions = crm
    # The portal serves the first write batch, but its answer never arrives: the
    # transport sends it again, and the merges find nothing left to merge.
    emulator.faults.inject("lost_response", path="batch", skip=4)  # after the reads
    ledger = PushLedger(duckdb.connect())
    report = _push(connector, instructions, ledger)
    assert (report.applied, report.failed) == (CLIENTS, 0)
    merged = [loser for _, losers in emulator.state.merge_log for loser in losers]
    assert len(merged) == len(set(merged)) == instructions["merged_record_ids"].list.len().sum()
    answers = ledger.entries().filter(pl.col("answer").str.contains("verified"))
    assert answers.height > 0


def test_a_changed_instruction_is_pushed_again_and_unchanged_ones_are_not(crm):
    emulator, connector, instructions = crm
    ledger = PushLedger(duckdb.connect())
    _push(connector, instructions, ledger)
    new_phones = pl.lit(["+79120000100", "+74950000111", "+79990001122"])
    changed = instructions.with_columns(
        pl.col("set_fields").struct.with_fields(
            pl.when(pl.col("cluster_id") == "CL0000000001")
            .then(new_phones)
            .otherwise(pl.field("phones"))
            .alias("phones")
        )
    )
    report = _push(connector, changed, ledger)
    assert (report.settled, report.applied) == (CLIENTS - 1, 1)
    survivor = int(instructions["survivor_record_id"][1])
    assert "+79990001122" in emulator.state.contacts[survivor].phones


def _source(tmp_path, server) -> SourceConfig:
    return SourceConfig.model_validate(
        {
            "name": "bitrix24",
            "path": tmp_path / "bitrix24.jsonl",
            "crm": {"kind": "bitrix24", "url": f"{server.url}/rest/1", "token_env": "B24"},
        }
    )


def test_pulls_follow_the_crm_and_drop_what_a_push_merged_away(tmp_path):
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    state = CrmState(now=lambda: now[0])
    for n in range(120):
        now[0] += timedelta(minutes=10)
        state.add_contact(first_name=f"N{n}", phones=[f"+7912000{n:04d}"])
    emulator = Bitrix24Emulator(state, token=SECRET, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        transport = CrmTransport(f"{server.url}/rest/1/{SECRET}", limit=RateLimit(1000, 1.0))
        connector = Bitrix24Connector(transport)
        source = _source(tmp_path, server)

        first = pull_source(source, connector)
        assert (first.mode, first.read, first.total) == ("full", 120, 120)
        assert pull_state_path(source.path).is_file()

        now[0] += timedelta(days=1)
        state.update_contact(5, first_name="Renamed")
        state.merge([7, 8], strict=False)  # done by a push: 8 is gone
        state.add_contact(first_name="New")
        second = pull_source(source, connector, merged_away={"8"})
        # Changed since the watermark: 5, the survivor 7 and the new card; and 120, read
        # again because it changed within the overlap margin before the watermark.
        assert (second.mode, second.read, second.added, second.changed) == ("incremental", 4, 1, 3)
        assert second.removed == 1 and second.total == 120
        rows = pl.read_ndjson(source.path)
        assert "8" not in rows["id"].to_list()
        assert rows.filter(pl.col("id") == "5")["first_name"].item() == "Renamed"

        del state.contacts[9]  # deleted in the CRM by a person: only a full pull sees it
        third = pull_source(source, connector, full=True)
        assert (third.mode, third.total, third.removed) == ("full", 119, 1)
