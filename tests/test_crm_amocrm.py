"""amoCRM over its real wire protocol (API v4): the emulator answers as an account does,
and the connector pulls every contact and applies merges without losing a phone, e-mail
or lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dedup_pipeline.config import CrmConnection, SourceConfig, load_config
from dedup_pipeline.crm.amocrm import AmoCrmConnector
from dedup_pipeline.crm.connect import open_connector
from dedup_pipeline.crm.connector import MergeStep
from dedup_pipeline.crm.emulator.amocrm import AmoCrmEmulator
from dedup_pipeline.crm.emulator.app import Bucket
from dedup_pipeline.crm.emulator.seed import seed_from_source
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.ledger import PushStatus
from dedup_pipeline.crm.transport import CrmHttpError, CrmTransport, RateLimit, RetryPolicy
from dedup_pipeline.crm.values import phone_key

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, base_delay=0.01)
UNLIMITED = RateLimit(calls=1000, period=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _connector(
    server: EmulatorServer,
    token: str | None = None,
    retry: RetryPolicy = FAST,
    limit: RateLimit = UNLIMITED,
    **connection: object,
) -> AmoCrmConnector:
    transport = CrmTransport(
        server.url,
        limit=limit,
        token=token or server.emulator.token,
        retry=retry,
    )
    settings = CrmConnection(kind="amocrm", url=server.url, token_env="AMO_TOKEN", **connection)
    return AmoCrmConnector(transport, connection=settings)


@pytest.fixture
def account():
    clock = Clock()
    emulator = AmoCrmEmulator(CrmState(now=clock), bucket=Bucket(10_000, 10_000))
    with EmulatorServer(emulator) as server:
        yield server, emulator, clock


def _get(server: EmulatorServer, path: str, token: str | None = "emulator-token", **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}{path}", params=params, headers=headers)


def _send(server: EmulatorServer, method: str, path: str, body: object):
    headers = {"Authorization": "Bearer emulator-token"}
    return httpx.request(method, f"{server.url}{path}", json=body, headers=headers)


# -- the emulator speaks amoCRM ---------------------------------------------------------------


def test_contact_list_is_hal_with_custom_fields_tags_and_leads(account):
    server, emulator, _ = account
    state = emulator.state
    anna = state.add_contact(
        first_name="Анна", last_name="Иванова", phones=["+79123456789"], emails=["a@x.ru"]
    )
    state.add_contact(first_name="Борис", tags=["vip"])
    state.add_contact(first_name="Вера")
    deal = state.add_deal("Deal", (anna.id,))

    first = _get(server, "/api/v4/contacts", limit=2, **{"with": "leads"})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/hal+json")
    page = first.json()
    assert page["_page"] == 1 and "page=2" in page["_links"]["next"]["href"]
    card, boris = page["_embedded"]["contacts"]
    assert (card["id"], card["name"], card["updated_at"]) == (anna.id, "Анна Иванова", 1767225600)
    phone, email = card["custom_fields_values"]
    assert (phone["field_code"], phone["field_type"]) == ("PHONE", "multitext")
    assert phone["values"][0] == {"value": "+79123456789", "enum_id": 404911, "enum_code": "WORK"}
    assert email["field_code"] == "EMAIL" and email["values"][0]["value"] == "a@x.ru"
    assert [lead["id"] for lead in card["_embedded"]["leads"]] == [deal.id]
    assert boris["custom_fields_values"] is None
    assert [t["name"] for t in boris["_embedded"]["tags"]] == ["vip"]

    last = _get(server, "/api/v4/contacts", limit=2, page=2).json()
    assert "next" not in last["_links"] and "leads" not in last["_embedded"]["contacts"][0]
    newest_first = _get(server, "/api/v4/contacts", **{"order[id]": "desc"}).json()
    assert [c["id"] for c in newest_first["_embedded"]["contacts"]] == [3, 2, 1]
    beyond = _get(server, "/api/v4/contacts", limit=2, page=3)
    assert (beyond.status_code, beyond.content) == (204, b"")
    too_many = _get(server, "/api/v4/contacts", limit=251)
    assert too_many.status_code == 400
    assert too_many.headers["content-type"].startswith("application/problem+json")
    assert _get(server, f"/api/v4/contacts/{anna.id}").json()["first_name"] == "Анна"
    assert _get(server, "/api/v4/contacts/999").status_code == 204


def test_patch_edits_names_fields_and_tags_or_rejects_the_whole_batch(account):
    server, emulator, clock = account
    state = emulator.state
    one = state.add_contact(first_name="Анна", phones=["111"], tags=["old", "keep"])
    two = state.add_contact(first_name="Борис", tags=["x"])
    clock.now = T0 + timedelta(hours=1)

    body = [
        {
            "id": one.id,
            "first_name": "Анна",
            "last_name": "Петрова",
            "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": "222", "enum_code": "MOB"}]},
                {"field_id": 264913, "values": [{"value": "a@x.ru", "enum_code": "WORK"}]},
            ],
            "tags_to_add": [{"name": "new"}],
            "tags_to_delete": [{"name": "old"}],
        },
        {"id": two.id, "name": "Борис Борисов", "_embedded": {"tags": None}},
    ]
    answer = _send(server, "PATCH", "/api/v4/contacts", body)
    assert answer.status_code == 200
    written = answer.json()["_embedded"]["contacts"]
    assert [(c["id"], c["name"]) for c in written] == [(1, "Анна Петрова"), (2, "Борис Борисов")]
    assert state.contacts[one.id].phones == ("222",)
    assert state.contacts[one.id].emails == ("a@x.ru",)
    assert state.contacts[one.id].tags == ("keep", "new")
    assert state.contacts[one.id].updated_at == clock.now
    assert (state.contacts[two.id].last_name, state.contacts[two.id].tags) == ("Борисов", ())

    before = dict(state.contacts)
    refused = _send(server, "PATCH", "/api/v4/contacts", [{"id": 1, "last_name": "X"}, {"id": 99}])
    assert refused.status_code == 400
    assert refused.json()["validation-errors"][0]["request_id"] == "1"
    assert state.contacts == before
    single = _send(server, "PATCH", f"/api/v4/contacts/{one.id}", {"last_name": "Сидорова"})
    assert single.json()["name"] == "Анна Сидорова"
    for path in ("/api/v4/contacts", f"/api/v4/contacts/{one.id}"):
        assert _send(server, "DELETE", path, None).status_code == 405
    assert one.id in state.contacts


def test_leads_link_and_unlink_from_the_lead_side(account):
    server, emulator, _ = account
    state = emulator.state
    a, b = state.add_contact(first_name="A"), state.add_contact(first_name="B")
    deal = state.add_deal("Deal", (a.id,))

    item = {"to_entity_id": b.id, "to_entity_type": "contacts", "metadata": {"is_main": True}}
    linked = _send(server, "POST", f"/api/v4/leads/{deal.id}/link", [item])
    assert linked.status_code == 200
    link = linked.json()["_embedded"]["links"][0]
    assert (link["entity_type"], link["metadata"]) == ("leads", {"main_contact": True})
    assert state.deals[deal.id].contact_ids == (b.id, a.id)
    unlinked = _send(
        server, "POST", "/api/v4/leads/unlink", [{"entity_id": deal.id, **item, "metadata": None}]
    )
    assert (unlinked.status_code, unlinked.content) == (204, b"")
    assert state.deals[deal.id].contact_ids == (a.id,)
    unknown = _send(server, "POST", "/api/v4/leads/link", [{**item, "entity_id": 999}])
    assert unknown.status_code == 400


def test_bad_token_answers_401_and_the_connector_raises(account):
    server, emulator, _ = account
    emulator.state.add_contact(first_name="A")
    for token in (None, "wrong"):
        answer = _get(server, "/api/v4/contacts", token=token)
        assert answer.status_code == 401 and answer.json()["status"] == 401
    with pytest.raises(CrmHttpError) as error:
        list(_connector(server, token="wrong").pull())
    assert error.value.status == 401


# -- pulling ------------------------------------------------------------------------------------


def test_pull_reads_every_contact_once_with_phones_emails_and_leads(account):
    server, emulator, clock = account
    state = emulator.state
    for n in range(600):
        clock.now = T0 + timedelta(minutes=n)
        contact = state.add_contact(
            first_name=f"N{n}", phones=[f"+7912000{n:04d}"], emails=[f"n{n}@example.ru"]
        )
        if n % 7 == 0:
            state.add_deal(f"Deal {n}", (contact.id,))
    connector = _connector(server)

    pages = list(connector.pull())
    assert [len(page) for page in pages] == [250, 250, 100]
    pulled = {c.id: c for page in pages for c in page}
    assert len(pulled) == 600
    card = pulled["8"]
    assert (card.first_name, card.phones, card.emails) == (
        "N7",
        ("+79120000007",),
        ("n7@example.ru",),
    )
    assert card.deal_ids == (str(state.deals_of(8)[0].id),)
    assert card.updated_at == T0 + timedelta(minutes=7)
    assert len(emulator.requests_to("/api/v4/contacts")) == 3

    since = T0 + timedelta(minutes=590)
    recent = [c for page in connector.pull(updated_since=since) for c in page]
    assert sorted(c.first_name for c in recent) == sorted(f"N{n}" for n in range(590, 600))


def test_pull_of_an_empty_account_or_no_change_yields_nothing(account):
    server, emulator, _ = account
    connector = _connector(server)
    assert list(connector.pull()) == []
    emulator.state.add_contact(first_name="A")
    assert list(connector.pull(updated_since=T0 + timedelta(days=1))) == []
    assert [entry.status for entry in emulator.log] == [204, 204]


def test_transport_retries_an_injected_500(account):
    server, emulator, _ = account
    emulator.state.add_contact(first_name="A")
    emulator.faults.inject("status", path="/api/v4/contacts", status=500, count=2)
    pulled = [c for page in _connector(server).pull() for c in page]
    assert [c.first_name for c in pulled] == ["A"]
    assert [entry.status for entry in emulator.log] == [500, 500, 200]


def test_emulator_answers_429_over_its_rate_and_the_transport_retries():
    assert AmoCrmEmulator.default_bucket == Bucket(capacity=7, drain_per_second=7)
    slow = AmoCrmEmulator(CrmState(), bucket=Bucket(3, 0.01))
    with EmulatorServer(slow) as server:
        answers = [_get(server, "/api/v4/contacts") for _ in range(4)]
    assert [a.status_code for a in answers] == [204, 204, 204, 429]
    assert answers[-1].headers["content-type"].startswith("application/problem+json")

    busy = AmoCrmEmulator(CrmState(), bucket=Bucket(10_000, 10_000))
    for n in range(3):
        busy.state.add_contact(first_name=f"N{n}")
    # Two 429 answers, whatever the machine's speed (a bucket's would depend on it).
    busy.faults.inject("status", status=429, count=2, skip=1)
    with EmulatorServer(busy) as server:
        # A 429 without Retry-After waits out the transport's window: keep it short here.
        limit = RateLimit(calls=1000, period=0.05)
        connector = _connector(server, retry=RetryPolicy(attempts=8), limit=limit)
        for _ in range(6):
            assert len(connector.fetch(["1", "2", "3"])) == 3
    statuses = [entry.status for entry in busy.log]
    assert statuses.count(429) == 2 and statuses.count(200) == 6


# -- merging ------------------------------------------------------------------------------------


def _merge_fixture(state: CrmState):
    survivor = state.add_contact(
        first_name="Анна", last_name="Иванова", phones=["8 (912) 345-67-89"], emails=["a@x.ru"]
    )
    first = state.add_contact(
        first_name="Анна", phones=["+7 495 123-45-67"], emails=["anna@work.ru"]
    )
    second = state.add_contact(last_name="Иванова", emails=["A@X.RU", "old@mail.ru"])
    shared = state.add_deal("Shared", (survivor.id, second.id))
    own = [state.add_deal(f"Deal {n}", (first.id,)) for n in range(2)]
    return survivor, first, second, [shared, *own]


def _step(connector: AmoCrmConnector, survivor: int, losers: list[int], **set_fields) -> MergeStep:
    cards = connector.fetch([str(survivor), *(str(i) for i in losers)])
    return MergeStep(
        "instr-1",
        cards[str(survivor)],
        tuple(cards[str(i)] for i in losers if str(i) in cards),
        set_fields,
    )


def test_apply_moves_phones_emails_and_leads_to_the_survivor_and_tags_losers(account):
    server, emulator, clock = account
    state = emulator.state
    survivor, first, second, deals = _merge_fixture(state)
    connector = _connector(server)
    step = _step(
        connector,
        survivor.id,
        [first.id, second.id],
        first_name="Анна",
        last_name="Иванова-Петрова",
        phones=["+79123456789"],
        city="Москва",
    )
    planned = connector.plan(step)
    assert [(r.method, r.path) for r in planned] == [
        ("PATCH", "/api/v4/contacts"),
        ("POST", "/api/v4/leads/link"),
        ("POST", "/api/v4/leads/unlink"),
        ("PATCH", "/api/v4/contacts"),
        ("POST", "/api/v4/contacts/notes"),
    ]
    clock.now = T0 + timedelta(hours=1)
    emulator.log.clear()

    [outcome] = connector.apply([step])
    assert (outcome.status, outcome.survivor_id) == (PushStatus.APPLIED, str(survivor.id))
    assert outcome.answer["tagged"] == [str(first.id), str(second.id)]
    assert outcome.answer["not_stored"] == {"city": "Москва"}
    # A contact has no city in amoCRM: the value is kept in a note on the card.
    assert [note for note in state.notes_of(survivor.id) if "city: Москва" in note]
    card = state.contacts[survivor.id]
    assert card.last_name == "Иванова-Петрова"
    assert card.phones == ("+79123456789", "+7 495 123-45-67")
    assert {phone_key(p, region="RU") for p in card.phones} >= {"+79123456789", "+74951234567"}
    assert card.emails == ("a@x.ru", "anna@work.ru", "old@mail.ru")
    assert {d.id for d in state.deals_of(survivor.id)} == {d.id for d in deals}
    assert state.deals_of(first.id) == state.deals_of(second.id) == []
    assert "merged-duplicate" in state.contacts[first.id].tags
    # One read of the cards and their notes, then one request per kind of write.
    assert [(e.method, e.path) for e in emulator.log] == [
        ("GET", "/api/v4/contacts"),
        ("GET", "/api/v4/contacts/notes"),
        *((r.method, r.path) for r in planned),
    ]

    pulled = [c.id for page in connector.pull() for c in page]
    assert pulled == [str(survivor.id)]
    assert set(connector.fetch([str(first.id), str(second.id), str(survivor.id)])) == {
        str(survivor.id)
    }

    # The same step again (a retry after a lost answer) finds nothing left to change.
    before = (dict(state.contacts), dict(state.deals))
    emulator.log.clear()
    [again] = connector.apply([step])
    assert again.status == PushStatus.APPLIED
    assert (dict(state.contacts), dict(state.deals)) == before
    assert [e.method for e in emulator.log] == ["GET", "GET"]  # the cards, their notes
    assert len(state.notes_of(survivor.id)) == 1


def test_apply_in_delete_mode_moves_losers_to_the_trash(account):
    server, emulator, _ = account
    state = emulator.state
    survivor, first, second, deals = _merge_fixture(state)
    connector = _connector(server, losers="delete")
    step = _step(connector, survivor.id, [first.id, second.id])

    [outcome] = connector.apply([step])
    assert outcome.status == PushStatus.APPLIED
    assert outcome.answer["deleted"] == [str(first.id), str(second.id)]
    assert set(emulator.trash) == {first.id, second.id}
    assert set(state.contacts) == {survivor.id}
    assert {d.id for d in state.deals_of(survivor.id)} == {d.id for d in deals}
    assert len(emulator.requests_to("/ajax/contacts/multiple/delete/")) == 1

    [again] = connector.apply([step])
    assert again.status == PushStatus.APPLIED
    assert len(emulator.requests_to("/ajax/contacts/multiple/delete/")) == 1
    assert len(emulator.requests_to("/api/v4/leads")) == 2

    headers = {"Authorization": "Bearer emulator-token", "X-Requested-With": "XMLHttpRequest"}
    refused = httpx.post(
        f"{server.url}/ajax/contacts/multiple/delete/",
        content=f"ID[]={first.id}",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 200 and refused.json()["status"] == "fail"


def test_a_step_without_losers_only_sets_the_golden_values(account):
    server, emulator, _ = account
    one = emulator.state.add_contact(first_name="анна", phones=["8 912 345-67-89"])
    connector = _connector(server)
    step = _step(connector, one.id, [], first_name="Анна", emails=["anna@x.ru"])
    assert [r.path for r in connector.plan(step)] == ["/api/v4/contacts"]
    [outcome] = connector.apply([step])
    assert outcome.status == PushStatus.APPLIED
    card = emulator.state.contacts[one.id]
    assert (card.first_name, card.phones, card.emails) == (
        "Анна",
        ("8 912 345-67-89",),
        ("anna@x.ru",),
    )


# -- the bundled sample ------------------------------------------------------------------------


def test_pull_of_the_sample_seed_reads_every_seeded_contact(tmp_path, monkeypatch):
    source = load_config(ROOT / "configs" / "sample.yaml").sources[0]
    state = seed_from_source(source, fields=("first_name", "last_name"))
    emulator = AmoCrmEmulator(state, token="sample-token", bucket=Bucket(10_000, 10_000))
    monkeypatch.setenv("AMO_SAMPLE_TOKEN", "sample-token")
    with EmulatorServer(emulator) as server:
        crm_source = SourceConfig(
            name="amocrm",
            path=tmp_path / "amocrm.jsonl",
            crm={
                "kind": "amocrm",
                "url": server.url,
                "token_env": "AMO_SAMPLE_TOKEN",
                "rate_limit": {"calls": 1000, "period": 1.0},
            },
        )
        connector = open_connector(crm_source)
        try:
            pulled = {c.id: c for page in connector.pull() for c in page}
        finally:
            connector.close()
    assert len(pulled) == len(state.contacts) > 0
    some = next(iter(state.contacts.values()))
    assert pulled[str(some.id)].phones == some.phones
    assert sum(len(c.deal_ids) for c in pulled.values()) == len(state.deals)


def test_a_lost_answer_is_retried_without_harm(account):
    server, emulator, _ = account
    state = emulator.state
    survivor, first, second, deals = _merge_fixture(state)
    connector = _connector(server)
    step = _step(connector, survivor.id, [first.id, second.id])
    for path in ("/api/v4/leads/link", "/api/v4/leads/unlink"):
        emulator.faults.inject("lost_response", path=path)

    [outcome] = connector.apply([step])
    assert outcome.status == PushStatus.APPLIED
    assert [state.deals[d.id].contact_ids for d in deals] == [(survivor.id,)] * 3
    assert len(emulator.requests_to("/api/v4/leads/link")) == 2


def test_rewritten_phones_and_emails_keep_their_types():
    card = {
        "id": 5,
        "first_name": "Анна",
        "last_name": "",
        "updated_at": 1767225600,
        "custom_fields_values": [
            {"field_code": "PHONE", "values": [{"value": "8 912 345-67-89", "enum_code": "MOB"}]},
            {"field_code": "EMAIL", "values": [{"value": "a@x.ru", "enum_code": "PRIV"}]},
        ],
        "_embedded": {"tags": [], "leads": [{"id": 9}]},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"_embedded": {"contacts": [card]}, "_links": {}})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    transport = CrmTransport("https://example.amocrm.ru", limit=RateLimit(100, 1.0), client=client)
    connector = AmoCrmConnector(transport)
    found = connector.fetch(["5"])["5"]
    assert (found.first_name, found.last_name, found.deal_ids) == ("Анна", None, ("9",))
    step = MergeStep("i", found, (), {"phones": ["+79123456789"], "emails": ["a@x.ru", "b@x.ru"]})
    [patch] = connector.plan(step)
    phone, email = patch.body[0]["custom_fields_values"]
    assert phone["values"] == [{"value": "+79123456789", "enum_code": "MOB"}]
    assert email["values"] == [
        {"value": "a@x.ru", "enum_code": "PRIV"},
        {"value": "b@x.ru", "enum_code": "WORK"},
    ]
