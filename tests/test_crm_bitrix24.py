"""Bitrix24 over its real wire protocol: the emulator answers as a portal does, and the
connector pulls every contact and applies merges without losing a phone, e-mail or deal."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dedup_pipeline.config import CrmConnection
from dedup_pipeline.crm.bitrix24 import Bitrix24Connector
from dedup_pipeline.crm.connector import MergeStep
from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.bitrix24 import Bitrix24Emulator
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.ledger import PushStatus
from dedup_pipeline.crm.phpquery import build_query, parse_query
from dedup_pipeline.crm.transport import CrmTransport, RateLimit, RetryPolicy
from dedup_pipeline.crm.values import phone_key

SECRET = "w3bh00ks3cret"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _connector(server: EmulatorServer, **connection: object) -> Bitrix24Connector:
    transport = CrmTransport(
        f"{server.url}/rest/1/{SECRET}",
        limit=RateLimit(calls=1000, period=1.0),
        retry=RetryPolicy(attempts=3, base_delay=0.01),
    )
    settings = CrmConnection(
        kind="bitrix24", url=f"{server.url}/rest/1", token_env="B24", **connection
    )
    return Bitrix24Connector(transport, connection=settings)


@pytest.fixture
def portal():
    clock = Clock()
    state = CrmState(now=clock)
    emulator = Bitrix24Emulator(state, token=SECRET, bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        yield server, emulator, clock


def _call(server: EmulatorServer, method: str, params: dict, secret: str = SECRET):
    return httpx.post(f"{server.url}/rest/1/{secret}/{method}.json", json=params)


def test_crm_item_list_pages_by_50_and_returns_phones_only_with_select_star(portal):
    server, emulator, _ = portal
    for n in range(120):
        emulator.state.add_contact(first_name=f"Name{n}", phones=[f"+7912000{n:04d}"])

    first = _call(server, "crm.item.list", {"entityTypeId": 3, "select": ["*"]}).json()
    assert len(first["result"]["items"]) == 50
    assert (first["total"], first["next"]) == (120, 50)
    assert first["result"]["items"][0]["fm"][0]["typeId"] == "PHONE"
    last = _call(server, "crm.item.list", {"entityTypeId": 3, "start": 100}).json()
    assert len(last["result"]["items"]) == 20 and "next" not in last
    named = _call(server, "crm.item.list", {"entityTypeId": 3, "select": ["id", "name"]}).json()
    assert "fm" not in named["result"]["items"][0]  # Bitrix24 leaves fm out with a field list
    uncounted = _call(server, "crm.item.list", {"entityTypeId": 3, "start": -1}).json()
    assert "total" not in uncounted and "next" not in uncounted


def test_bad_secret_and_rate_limit_answer_as_a_portal_does():
    emulator = Bitrix24Emulator(CrmState(), token=SECRET, bucket=Bucket(3, 0.001))
    with EmulatorServer(emulator) as server:
        assert _call(server, "crm.item.list", {"entityTypeId": 3}, "wrong").status_code == 401
        answers = [_call(server, "crm.item.list", {"entityTypeId": 3}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 503]
    assert answers[-1].json()["error"] == "QUERY_LIMIT_EXCEEDED"


def test_batch_runs_php_style_commands_and_reports_errors_per_command(portal):
    server, emulator, _ = portal
    one = emulator.state.add_contact(first_name="Анна", phones=["8 912 345-67-89"])
    cmd = {
        "list": "crm.item.list?" + build_query({"entityTypeId": 3, "filter": {"@id": [one.id]}}),
        "bad": "crm.entity.mergeBatch?" + build_query({"params": {"entityTypeId": 3}}),
    }
    answer = _call(server, "batch", {"halt": 0, "cmd": cmd}).json()["result"]
    assert answer["result"]["list"]["items"][0]["name"] == "Анна"
    assert "entityIds" in answer["result_error"]["bad"]["error_description"]
    assert answer["result_next"] == []  # PHP's empty map
    assert parse_query(build_query({"a": {"b": [1, 2]}})) == {"a": {"b": ["1", "2"]}}


def test_pull_reads_every_contact_once_through_batched_pages(portal):
    server, emulator, clock = portal
    for n in range(2_620):  # first page, one batch of 50 pages, and a second batch
        clock.now = T0 + timedelta(minutes=n)
        emulator.state.add_contact(first_name=f"N{n}", emails=[f"n{n}@example.ru"])
    connector = _connector(server)
    pulled = [contact for page in connector.pull() for contact in page]
    assert len(pulled) == 2_620
    assert len({c.id for c in pulled}) == 2_620
    assert pulled[7].emails == ("n7@example.ru",)
    # Three requests: the first page, then 50 pages per batch call.
    assert len(emulator.log) == 3

    since = T0 + timedelta(minutes=2_600)
    recent = [c for page in connector.pull(updated_since=since) for c in page]
    assert sorted(c.first_name for c in recent) == sorted(f"N{n}" for n in range(2_600, 2_620))


def _step(connector: Bitrix24Connector, survivor: int, losers: list[int], **set_fields):
    cards = connector.fetch([str(survivor), *(str(i) for i in losers)])
    return MergeStep(
        "CL1/bitrix24",
        cards[str(survivor)],
        tuple(cards[str(i)] for i in losers),
        set_fields,
    )


def test_apply_sets_golden_values_and_merges_everything_into_the_survivor(portal):
    server, emulator, _ = portal
    state = emulator.state
    survivor = state.add_contact(
        first_name="Саша", last_name="Петров", phones=["8 (912) 345-67-89"]
    )
    loser = state.add_contact(
        first_name="Александр", phones=["+7 495 111-22-33"], emails=["sasha@example.ru"]
    )
    deal = state.add_deal("Поставка", (loser.id,))
    connector = _connector(server)
    step = _step(
        connector,
        survivor.id,
        [loser.id],
        first_name="Александр",
        phones=["+79123456789", "+74951112233"],
        emails=["sasha@example.ru"],
    )

    [outcome] = connector.apply([step])

    assert outcome.status == PushStatus.APPLIED
    assert list(state.contacts) == [survivor.id]
    card = state.contacts[survivor.id]
    assert card.first_name == "Александр"
    # The survivor's own spelling is rewritten to E.164, not doubled.
    assert {phone_key(p, region="RU") for p in card.phones} == {"+79123456789", "+74951112233"}
    assert "+79123456789" in card.phones and "8 (912) 345-67-89" not in card.phones
    assert card.emails == ("sasha@example.ru",)
    assert state.deals[deal.id].contact_ids == (survivor.id,)
    assert state.merge_log == [(survivor.id, (loser.id,))]


def test_a_conflict_waits_for_a_person_unless_names_are_aligned(portal):
    server, emulator, _ = portal
    state = emulator.state
    survivor = state.add_contact(first_name="Максим", last_name="ПОПОВ")
    loser = state.add_contact(first_name="Максим", last_name="Попов", emails=["m@example.ru"])

    [outcome] = _connector(server).apply([_step(_connector(server), survivor.id, [loser.id])])
    assert outcome.status == PushStatus.CONFLICT
    assert (
        outcome.manual_merge_url == f"{server.url}/crm/contact/merge/?id={survivor.id},{loser.id}"
    )
    assert set(state.contacts) == {survivor.id, loser.id}  # nothing merged

    aligned = _connector(server, on_conflict="align")
    [outcome] = aligned.apply([_step(aligned, survivor.id, [loser.id], last_name="Попов")])
    assert outcome.status == PushStatus.APPLIED
    assert list(state.contacts) == [survivor.id]
    assert state.contacts[survivor.id].emails == ("m@example.ru",)


def test_plan_sends_nothing(portal):
    server, emulator, _ = portal
    survivor = emulator.state.add_contact(first_name="Ann")
    loser = emulator.state.add_contact(first_name="Ann")
    connector = _connector(server)
    step = _step(connector, survivor.id, [loser.id], last_name="Lee")
    served = len(emulator.log)
    requests = connector.plan(step)
    assert [r.path for r in requests] == ["crm.contact.update", "crm.entity.mergeBatch"]
    assert len(emulator.log) == served
    assert len(emulator.state.contacts) == 2


def test_a_request_stalling_past_the_timeout_is_sent_again(portal):
    server, emulator, _ = portal
    for n in range(60):
        emulator.state.add_contact(first_name=f"N{n}")
    transport = CrmTransport(
        f"{server.url}/rest/1/{SECRET}",
        limit=RateLimit(calls=1000, period=1.0),
        retry=RetryPolicy(attempts=3, base_delay=0.01),
        timeout=0.3,
    )
    emulator.faults.inject("timeout", path="crm.item.list", delay=1.0)
    pulled = [c for page in Bitrix24Connector(transport).pull() for c in page]
    assert len(pulled) == 60
    deadline = time.monotonic() + 5  # the stalled request is logged when it ends
    while len(emulator.requests_to("crm.item.list")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(r.status for r in emulator.requests_to("crm.item.list")) == [200, 504]
