"""HubSpot over real HTTP: the connector pulls every contact with its phones, e-mails and
deals, and a push leaves one card holding everything its duplicates held, once, however
the network behaves."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dedup_pipeline.config import CrmConnection, load_config
from dedup_pipeline.crm import CrmHttpError, CrmTransport, PushStatus, RateLimit, RetryPolicy
from dedup_pipeline.crm.connect import open_connector
from dedup_pipeline.crm.connector import CrmContact, MergeStep
from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.hubspot import HubSpotEmulator
from dedup_pipeline.crm.emulator.seed import seed_from_source
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.hubspot import HubSpotConnector

ROOT = Path(__file__).resolve().parent.parent
JANUARY = datetime(2026, 1, 10, tzinfo=UTC)
CONTACTS = "/crm/v3/objects/contacts"


def _state(others: int = 22) -> CrmState:
    """Three cards of one person (1 the survivor) and ``others`` other people, all last
    modified in January; the clock then runs from March, one second per change."""
    ticks = itertools.count()
    state = CrmState(now=lambda: datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=next(ticks)))
    jan = {"created_at": JANUARY, "updated_at": JANUARY}
    state.add_contact(
        id=1, first_name="Иван", last_name="Петров", company="Acme",
        phones=["8 (912) 345-67-89"], emails=["ivan@x.ru"], **jan,
    )  # fmt: skip
    state.add_contact(
        id=2, first_name="Ivan", last_name="Petrov", city="Пермь",
        phones=["+7 916 111-22-33", "+79123456789"], emails=["i.petrov@y.ru", "ivan.p@z.ru"],
        **jan,
    )  # fmt: skip
    state.add_contact(
        id=3, first_name="Иван", phones=["+7 495 000-00-00"], emails=["IVAN@X.RU"], **jan
    )
    for number in range(4, 4 + others):
        state.add_contact(
            id=number, first_name=f"Person {number}", phones=[f"+7900000{number:04d}"], **jan
        )
    state.add_deal("first order", (1,))
    state.add_deal("second order", (2,))
    state.add_deal("third order", (2,))
    state.add_deal("fourth order", (3,))
    state.add_deal("other order", (4,))
    return state


def _transport(url: str, token: str) -> CrmTransport:
    return CrmTransport(
        url, limit=RateLimit(1000, 1.0), token=token, retry=RetryPolicy(base_delay=0.01)
    )


@contextmanager
def _serving(
    state: CrmState, **options: Any
) -> Iterator[tuple[HubSpotEmulator, HubSpotConnector, str]]:
    emulator = HubSpotEmulator(state, **options)
    with EmulatorServer(emulator) as server:
        connector = HubSpotConnector(_transport(server.url, emulator.token), default_region="RU")
        try:
            yield emulator, connector, server.url
        finally:
            connector.close()


def _all(pages: Iterator[list[CrmContact]]) -> list[CrmContact]:
    return [contact for page in pages for contact in page]


def _step(connector: HubSpotConnector, losers: tuple[str, ...] = ("2", "3")) -> MergeStep:
    cards = connector.fetch(["1", *losers])
    return MergeStep(
        instruction_id="c1",
        survivor=cards["1"],
        losers=tuple(cards[i] for i in losers),
        set_fields={
            "first_name": "Иван",
            "last_name": "Петров",
            "middle_name": "Сергеевич",  # HubSpot has no middle name: left out
            "phones": ["+79123456789"],
            "emails": ["i.petrov@y.ru"],  # a loser's address becomes the primary one
        },
    )


def test_a_full_pull_pages_through_every_contact_once_with_phones_emails_and_deals():
    with _serving(_state()) as (emulator, connector, _):
        connector.page_size = 5
        pages = list(connector.pull())
    contacts = {c.id: c for page in pages for c in page}
    assert [len(page) for page in pages] == [5, 5, 5, 5, 5]
    assert sorted(contacts, key=int) == [str(i) for i in range(1, 26)]
    second = contacts["2"]
    assert second.phones == ("+7 916 111-22-33", "+79123456789")
    assert second.emails == ("i.petrov@y.ru", "ivan.p@z.ru")
    assert second.city == "Пермь" and sorted(second.deal_ids) == ["2", "3"]
    assert contacts["1"].deal_ids == ("1",) and contacts["5"].deal_ids == ()
    assert contacts["1"].updated_at == JANUARY and contacts["1"].created_at.tzinfo is not None
    assert all(entry.status == 200 for entry in emulator.log)


def test_an_incremental_pull_returns_only_contacts_modified_since():
    state = _state()
    with _serving(state) as (emulator, connector, _):
        state.update_contact(5, city="Казань")
        state.update_contact(2, company="Globex")
        changed = _all(connector.pull(updated_since=datetime(2026, 2, 1, tzinfo=UTC)))
    assert [c.id for c in changed] == ["5", "2"]  # in order of change
    assert changed[0].city == "Казань" and sorted(changed[1].deal_ids) == ["2", "3"]
    assert emulator.requests_to("/search")
    assert not [entry for entry in emulator.log if entry.method == "GET"]  # no full list


def test_an_incremental_pull_restarts_from_its_watermark_before_the_search_cap():
    state = CrmState()
    for number in range(1, 31):  # ten timestamps, three contacts on each
        stamp = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=(number - 1) // 3)
        state.add_contact(id=number, first_name=f"P{number}", created_at=stamp, updated_at=stamp)
    with _serving(state) as (emulator, connector, url):
        emulator.search_cap = connector.search_cap = 10
        connector.search_page_size = 4
        changed = _all(connector.pull(updated_since=datetime(2026, 1, 1, tzinfo=UTC)))
        beyond = httpx.post(
            f"{url}{CONTACTS}/search",
            json={"limit": 4, "after": "10"},
            headers={"Authorization": f"Bearer {emulator.token}"},
        )
    assert sorted(int(c.id) for c in changed) == list(range(1, 31))  # each once
    searches = emulator.requests_to("/search")
    assert len(searches) > 8 and all(entry.status == 200 for entry in searches[:-1])
    assert beyond.status_code == 400 and beyond.json()["category"] == "VALIDATION_ERROR"


def test_apply_leaves_the_survivor_with_every_phone_email_and_deal_and_redirects_losers():
    state = _state()
    with _serving(state) as (_, connector, _):
        step = _step(connector)
        [outcome] = connector.apply([step])
        cards = connector.fetch(["1", "2", "3"])
        [again] = connector.apply([step])  # the same step after success: nothing merges twice
    assert outcome.status == PushStatus.APPLIED and outcome.survivor_id == "1"
    assert outcome.answer["not_stored"] == {"phones": ["+7 495 000-00-00"]}
    survivor = cards["1"]
    assert {card.id for card in cards.values()} == {"1"}  # 2 and 3 resolve to 1
    assert survivor.phones == ("+79123456789", "+7 916 111-22-33")  # HubSpot holds two
    assert survivor.emails == ("i.petrov@y.ru", "ivan@x.ru", "ivan.p@z.ru")
    assert (survivor.first_name, survivor.last_name, survivor.company, survivor.city) == (
        "Иван", "Петров", "Acme", "Пермь",
    )  # fmt: skip
    assert sorted(survivor.deal_ids) == ["1", "2", "3", "4"]
    assert again.status == PushStatus.APPLIED and again.survivor_id == "1"
    assert [m["result"] for m in again.answer["merges"]] == ["already_merged"] * 2
    assert state.merge_log == [(1, (2,)), (1, (3,))]
    assert set(state.contacts) == set(range(1, 26)) - {2, 3}


def test_a_push_never_writes_over_a_phone_the_survivor_holds():
    state = _state()
    state.add_contact(id=90, first_name="Анна", phones=["+7(495)620 92 43"], **_JAN)
    state.add_contact(id=91, first_name="Анна", phones=["+7 916 555-00-01"], **_JAN)
    with _serving(state) as (_, connector, _):
        cards = connector.fetch(["90", "91"])
        step = MergeStep(
            instruction_id="c90",
            survivor=cards["90"],
            losers=(cards["91"],),
            # Other CRMs gave the client two other numbers, ranked above the card's.
            set_fields={"phones": ["+79161112233", "+79165550001", "+74956209243"]},
        )
        [outcome] = connector.apply([step])
        survivor = connector.fetch(["90"])["90"]
    assert outcome.status == PushStatus.APPLIED
    assert survivor.phones == ("+74956209243", "+79161112233")
    assert outcome.answer["not_stored"] == {"phones": ["+79165550001"]}


_JAN = {"created_at": JANUARY, "updated_at": JANUARY}


def test_with_new_ids_on_merge_the_outcome_names_the_new_record_and_old_ids_lead_to_it():
    state = _state()
    with _serving(state, new_ids_on_merge=True) as (_, connector, _):
        [outcome] = connector.apply([_step(connector)])
        cards = connector.fetch(["1", "2", "3"])
    assert outcome.status == PushStatus.APPLIED and outcome.survivor_id == "27"
    assert [m["survivor"] for m in outcome.answer["merges"]] == ["26", "27"]
    assert {requested: card.id for requested, card in cards.items()} == {
        "1": "27", "2": "27", "3": "27",
    }  # fmt: skip
    assert sorted(cards["1"].deal_ids) == ["1", "2", "3", "4"]
    assert cards["1"].emails[0] == "i.petrov@y.ru"
    assert state.merge_log == [(26, (2,)), (27, (3,))]
    assert not {1, 2, 3, 26} & set(state.contacts)


@pytest.mark.parametrize("new_ids", [False, True], ids=["same id", "new id"])
def test_a_merge_whose_answer_is_lost_is_retried_and_still_counts_once(new_ids):
    state = _state()
    with _serving(state, new_ids_on_merge=new_ids) as (emulator, connector, _):
        step = _step(connector, losers=("2",))
        emulator.faults.inject("lost_response", path="/merge")
        [outcome] = connector.apply([step])
    survivor = 26 if new_ids else 1
    assert outcome.status == PushStatus.APPLIED and outcome.survivor_id == str(survivor)
    assert [entry.status for entry in emulator.requests_to("/merge")] == [504, 400]
    assert outcome.answer["merges"][0]["result"] == "already_merged"
    assert state.merge_log == [(survivor, (2,))]


def test_requests_over_the_rate_are_answered_429_and_the_transport_retries_them():
    # A bucket that does not drain within the test: the answers do not depend on timing.
    with _serving(_state(), bucket=Bucket(capacity=3, drain_per_second=0.001)) as (
        emulator,
        connector,
        url,
    ):
        headers = {"Authorization": f"Bearer {emulator.token}"}
        answers = [httpx.get(f"{url}{CONTACTS}", headers=headers) for _ in range(5)]
        emulator.bucket = Bucket(capacity=1_000, drain_per_second=1_000)
        emulator.faults.inject("status", status=429, path=CONTACTS, count=1)
        connector.page_size = 2
        contacts = _all(connector.pull())
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[-1].json()
    assert (limited["policyName"], limited["errorType"]) == ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
    assert len(contacts) == 25
    assert [entry.status for entry in emulator.log[5:7]] == [429, 200]  # retried


def test_a_request_without_the_token_is_refused():
    with _serving(_state()) as (_, _, url):
        anonymous = httpx.get(f"{url}{CONTACTS}")
        connector = HubSpotConnector(_transport(url, "wrong-token"))
        with pytest.raises(CrmHttpError) as refused:
            list(connector.pull())
        connector.close()
    assert anonymous.status_code == 401
    assert anonymous.json()["category"] == "INVALID_AUTHENTICATION"
    assert refused.value.status == 401 and "wrong-token" not in str(refused.value)


def test_the_bundled_hubspot_export_seeds_the_emulator_and_pulls_in_full(monkeypatch):
    source = load_config(ROOT / "configs" / "sample.yaml").sources[1]
    state = seed_from_source(source, fields=("first_name", "last_name", "company", "city"))
    emulator = HubSpotEmulator(state)
    with EmulatorServer(emulator) as server:
        connection = CrmConnection(
            kind="hubspot",
            url=server.url,
            token_env="HUBSPOT_TEST_TOKEN",
            rate_limit={"calls": 1000, "period": 1.0},
        )
        monkeypatch.setenv("HUBSPOT_TEST_TOKEN", emulator.token)
        connector = open_connector(source.model_copy(update={"crm": connection}))
        try:
            contacts = _all(connector.pull())
        finally:
            connector.close()
    assert connector.kind == "hubspot"
    assert len(contacts) == len(state.contacts) > 900
    assert len({c.id for c in contacts}) == len(contacts)
    with_deals = [c for c in contacts if c.deal_ids]
    assert sum(len(c.deal_ids) for c in with_deals) == len(state.deals)


def test_an_address_another_contact_holds_is_left_out_and_reported():
    state = _state()
    with _serving(state) as (emulator, connector, _):
        cards = connector.fetch(["4"])
        # HubSpot answers 409: e-mails identify contacts. The batch is refused whole, so
        # each step is sent alone, and the refused address is left out of its step.
        taken = MergeStep(
            "c4", survivor=cards["4"], losers=(), set_fields={"emails": ["ivan@x.ru"]}
        )
        left_out, merged = connector.apply([taken, _step(connector)])
    assert left_out.status == PushStatus.APPLIED and left_out.survivor_id == "4"
    assert left_out.answer["not_stored"] == {"emails": ["ivan@x.ru"]}
    assert merged.status == PushStatus.APPLIED and state.merge_log == [(1, (2,)), (1, (3,))]
    assert [e.status for e in emulator.requests_to("/batch/update")] == [409]
    assert state.contacts[4].emails == ()


def test_the_emulator_speaks_hubspots_errors_and_redirects_merged_ids():
    with _serving(_state()) as (emulator, connector, url):
        connector.apply([_step(connector, losers=("2",))])
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {emulator.token}"}) as c:
            merged = c.get(
                f"{CONTACTS}/2",
                params=[("properties", "email,phone"), ("properties", "hs_merged_object_ids")],
            )
            unknown = c.get(f"{CONTACTS}/999")
            too_many = c.get(CONTACTS, params={"limit": 101})
            read_only = c.patch(
                f"{CONTACTS}/4", json={"properties": {"hs_object_id": "9", "x": "1"}}
            )
            cleared = c.patch(f"{CONTACTS}/4", json={"properties": {"phone": ""}})
            again = c.post(
                f"{CONTACTS}/merge", json={"primaryObjectId": "1", "objectIdToMerge": "2"}
            )
            missing = c.post(
                f"{CONTACTS}/merge", json={"primaryObjectId": "1", "objectIdToMerge": "999"}
            )
    assert merged.json()["id"] == "1"
    assert merged.json()["properties"]["hs_merged_object_ids"] == "2"
    assert merged.json()["properties"]["phone"] == "+79123456789"
    assert (unknown.status_code, unknown.json()["category"]) == (404, "OBJECT_NOT_FOUND")
    assert (too_many.status_code, too_many.json()["category"]) == (400, "VALIDATION_ERROR")
    assert read_only.status_code == 400
    assert read_only.json()["message"].startswith("Property values were not valid: [")
    assert cleared.json()["properties"]["phone"] is None
    assert (again.status_code, again.json()["category"]) == (400, "VALIDATION_ERROR")
    assert missing.status_code == 404
