"""amoCRM (Kommo) over REST API v4: contacts pulled with ``GET /api/v4/contacts``,
merges applied as edits, since amoCRM has no merge endpoint (docs/notes/crm_protocols.md).

A merge step sets the golden names, phones and e-mails on the survivor (one batched
``PATCH /api/v4/contacts``; the survivor keeps every phone and e-mail of its losers),
re-links the losers' leads to it from the lead side (``POST /api/v4/leads/link``, then
``/unlink``), and retires the losers: tagged with the connection's ``loser_tag`` by
default, or moved to the trash through the web app's undocumented delete endpoint.
Tagged contacts count as gone: pulls and fetches leave them out.

Before writing, `AmoCrmConnector.apply` re-reads the cards, so a step applied twice
(a retry after a lost answer) sends only what is still missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from dedup_pipeline.config import CrmConnection
from dedup_pipeline.crm.connector import (
    NOTE_PREFIX,
    CrmContact,
    MergeStep,
    PlannedRequest,
    RestoreOutcome,
    RestoreStep,
    StepOutcome,
    not_stored_note,
)
from dedup_pipeline.crm.ledger import PushStatus
from dedup_pipeline.crm.transport import CrmHttpError, CrmTransport, redact
from dedup_pipeline.crm.values import email_key, merged_emails, merged_phones, phone_key

__all__ = ["AmoCrmConnector"]

CONTACTS = "/api/v4/contacts"
NOTES = "/api/v4/contacts/notes"
LEADS_LINK = "/api/v4/leads/link"
LEADS_UNLINK = "/api/v4/leads/unlink"
AJAX_DELETE = "/ajax/contacts/multiple/delete/"
READ_LIMIT = 250
WRITE_LIMIT = 50
_NAMES = ("first_name", "last_name")
# Golden fields amoCRM contacts do not hold (companies are separate entities).
_NOT_STORED = ("middle_name", "company", "city")


@dataclass
class _Writes:
    """What one step changes: the survivor's PATCH item, lead links, losers to retire."""

    survivor_id: str
    patch: dict[str, Any] | None = None
    updated: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    unlinks: list[dict[str, Any]] = field(default_factory=list)
    retire: list[str] = field(default_factory=list)
    retired_as: str = "tagged"
    not_stored: dict[str, Any] = field(default_factory=dict)
    note: dict[str, Any] | None = None


class AmoCrmConnector:
    """Contacts of one amoCRM account.

    Parameters
    ----------
    transport
        Requests to the account's domain (``https://<subdomain>.amocrm.ru``) with its
        long-lived token.
    connection
        The source's ``crm`` block: how losers are retired (``losers``, ``loser_tag``).
    default_region
        Region for phones written without a country code.
    """

    kind = "amocrm"
    batch_size = WRITE_LIMIT

    def __init__(
        self,
        transport: CrmTransport,
        *,
        connection: CrmConnection | None = None,
        default_region: str = "RU",
    ) -> None:
        self._transport = transport
        self.losers: Literal["tag", "delete"] = connection.losers if connection else "tag"
        self.loser_tag = connection.loser_tag if connection else "merged-duplicate"
        self.default_region = default_region
        # enum_code of each phone / e-mail of the cards last fetched, so that a rewrite
        # keeps MOB, PRIV, ... (pulls leave it alone: it would grow with the account).
        self._enums: dict[tuple[str, str], str] = {}

    # -- reading ---------------------------------------------------------------------

    def _page(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """One page of ``GET /api/v4/contacts``; None when amoCRM answers 204 (nothing)."""
        response = self._transport.request("GET", CONTACTS, params=params)
        if response.status_code == 204:
            return None
        return _answer(response, "GET", (200,))

    def _retired(self, contact: CrmContact) -> bool:
        return self.loser_tag in contact.tags

    def pull(self, *, updated_since: datetime | None = None) -> Iterator[list[CrmContact]]:
        """Every contact not tagged as a merged-away duplicate (or those updated at or
        after ``updated_since``), 250 a page, by id."""
        # By id: an order by change time would shift pages when a card changes mid-pull.
        params: dict[str, Any] = {"limit": READ_LIMIT, "with": "leads", "order[id]": "asc"}
        if updated_since is not None:
            params["filter[updated_at][from]"] = _unix(updated_since)
        page = 1
        while (body := self._page({**params, "page": page})) is not None:
            contacts = [self._contact(record, remember=False) for record in _records(body)]
            yield [contact for contact in contacts if not self._retired(contact)]
            if not (body.get("_links") or {}).get("next") or not contacts:
                return
            page += 1

    def _read(self, ids: Sequence[str]) -> dict[str, CrmContact]:
        """The cards of ``ids`` that exist, tagged losers included (250 per request)."""
        wanted = list(dict.fromkeys(str(i) for i in ids if str(i).isdigit()))
        found: dict[str, CrmContact] = {}
        self._enums.clear()
        for start in range(0, len(wanted), READ_LIMIT):
            chunk = wanted[start : start + READ_LIMIT]
            params = {"filter[id][]": chunk, "with": "leads", "limit": READ_LIMIT}
            body = self._page(params)
            for record in _records(body or {}):
                contact = self._contact(record)
                found[contact.id] = contact
        notes = self._notes_of(list(found))
        return {i: replace(c, notes=notes.get(i, ())) for i, c in found.items()}

    def _notes_of(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """The notes a push left on these contacts, by contact id."""
        notes: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(ids), READ_LIMIT):
            params = {"filter[entity_id][]": ids[start : start + READ_LIMIT], "limit": READ_LIMIT}
            response = self._transport.request("GET", NOTES, params=params)
            if response.status_code == 204:
                continue
            for note in (_answer(response, "GET", (200,)).get("_embedded") or {}).get(
                "notes"
            ) or []:
                text = (note.get("params") or {}).get("text") or ""
                if text.startswith(NOTE_PREFIX):
                    owner = str(note["entity_id"])
                    notes[owner] = (*notes.get(owner, ()), text)
        return notes

    def fetch(self, ids: Sequence[str]) -> dict[str, CrmContact]:
        """The current cards of ``ids``; contacts tagged as merged-away duplicates count
        as gone."""
        return {i: c for i, c in self._read(ids).items() if not self._retired(c)}

    def _contact(self, record: dict[str, Any], *, remember: bool = True) -> CrmContact:
        """A contact as a CRM-neutral card; with ``remember``, its values' enum codes are
        kept for writing them back."""
        fields = _multitext(record.get("custom_fields_values"))
        for code, values in fields.items() if remember else ():
            for value, enum_code in values:
                self._enums[(code, self._key(code, value))] = enum_code
        embedded = record.get("_embedded") or {}
        first, last = _text(record.get("first_name")), _text(record.get("last_name"))
        if first is None and last is None:  # a card with only the full name
            first = _text(record.get("name"))
        return CrmContact(
            id=str(record["id"]),
            first_name=first,
            last_name=last,
            phones=tuple(value for value, _ in fields.get("PHONE", [])),
            emails=tuple(value for value, _ in fields.get("EMAIL", [])),
            deal_ids=tuple(str(lead["id"]) for lead in embedded.get("leads") or []),
            tags=tuple(tag["name"] for tag in embedded.get("tags") or [] if tag.get("name")),
            created_at=_time(record.get("created_at")),
            updated_at=_time(record.get("updated_at")),
        )

    def _key(self, code: str, value: str) -> str:
        return phone_key(value, region=self.default_region) if code == "PHONE" else email_key(value)

    # -- writing ---------------------------------------------------------------------

    def _field(self, code: str, values: list[str]) -> dict[str, Any]:
        return {
            "field_code": code,
            "values": [
                {"value": v, "enum_code": self._enums.get((code, self._key(code, v)), "WORK")}
                for v in values
            ],
        }

    def _survivor_patch(
        self, step: MergeStep, survivor: CrmContact, losers: Sequence[CrmContact]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The survivor's PATCH item (None when it holds the values already) and what it
        changes."""
        golden = step.set_fields
        names = {n: v for n in _NAMES if (v := _text(golden.get(n)))}
        first = names.get("first_name", survivor.first_name)
        last = names.get("last_name", survivor.last_name)
        updated: dict[str, Any] = {}
        if (first, last) != (survivor.first_name, survivor.last_name):
            updated.update(first_name=first, last_name=last)
        phones = merged_phones(
            golden.get("phones") or [],
            survivor.phones,
            *(loser.phones for loser in losers),
            region=self.default_region,
        )
        emails = merged_emails(
            golden.get("emails") or [], survivor.emails, *(loser.emails for loser in losers)
        )
        custom = []
        if phones != list(survivor.phones):
            updated["phones"] = phones
            custom.append(self._field("PHONE", phones))
        if emails != list(survivor.emails):
            updated["emails"] = emails
            custom.append(self._field("EMAIL", emails))
        if not updated:
            return None, {}
        patch: dict[str, Any] = {"id": int(survivor.id)}
        if "first_name" in updated or "last_name" in updated:
            patch.update(first_name=first or "", last_name=last or "", name=_name(first, last))
        if custom:
            patch["custom_fields_values"] = custom
        return patch, updated

    def _writes(
        self, step: MergeStep, survivor: CrmContact, losers: Sequence[CrmContact]
    ) -> _Writes:
        """What ``step`` still has to change, given the cards as they are."""
        patch, updated = self._survivor_patch(step, survivor, losers)
        writes = _Writes(survivor.id, patch, updated)
        writes.retired_as = "deleted" if self.losers == "delete" else "tagged"
        writes.not_stored = {k: step.set_fields[k] for k in _NOT_STORED if step.set_fields.get(k)}
        if (text := not_stored_note(writes.not_stored)) and text not in survivor.notes:
            writes.note = {
                "entity_id": int(survivor.id),
                "note_type": "common",
                "params": {"text": text},
            }
        held = set(survivor.deal_ids)
        for loser in losers:
            for lead in loser.deal_ids:
                if lead not in held:
                    held.add(lead)
                    writes.links.append(_link(lead, survivor.id))
                writes.unlinks.append(_link(lead, loser.id))
            if self.losers == "delete" or not self._retired(loser):
                writes.retire.append(loser.id)
        return writes

    def _retire_request(self, ids: list[str]) -> PlannedRequest:
        if self.losers == "delete":
            return PlannedRequest("POST", AJAX_DELETE, {"ID[]": ids})
        tag = [{"name": self.loser_tag}]
        return PlannedRequest("PATCH", CONTACTS, [{"id": int(i), "tags_to_add": tag} for i in ids])

    def plan(self, step: MergeStep) -> list[PlannedRequest]:
        """The requests `apply` sends for ``step`` when the cards are as the step holds
        them."""
        writes = self._writes(step, step.survivor, step.losers)
        requests = []
        if writes.patch is not None:
            requests.append(PlannedRequest("PATCH", CONTACTS, [writes.patch]))
        if writes.links:
            requests.append(PlannedRequest("POST", LEADS_LINK, writes.links))
        if writes.unlinks:
            requests.append(PlannedRequest("POST", LEADS_UNLINK, writes.unlinks))
        if writes.retire:
            requests.append(self._retire_request(writes.retire))
        if writes.note:
            requests.append(PlannedRequest("POST", NOTES, [writes.note]))
        return requests

    def apply(self, steps: Sequence[MergeStep]) -> list[StepOutcome]:
        """Re-read the steps' cards, then send what is still missing, batched across the
        steps: the survivors' values, the lead links, the unlinks, the losers' retirement.

        Raises
        ------
        CrmHttpError
            When amoCRM cannot be reached, refuses the token or rejects a request.
        """
        cards = self._read([c.id for step in steps for c in (step.survivor, *step.losers)])
        planned: list[_Writes | None] = []
        for step in steps:
            survivor = cards.get(step.survivor.id)
            losers = [
                cards[c.id] for c in step.losers if c.id in cards and c.id != step.survivor.id
            ]
            planned.append(None if survivor is None else self._writes(step, survivor, losers))
        writes = [w for w in planned if w is not None]
        self._send("PATCH", CONTACTS, [w.patch for w in writes if w.patch is not None])
        self._send("POST", LEADS_LINK, [link for w in writes for link in w.links])
        self._send("POST", LEADS_UNLINK, [link for w in writes for link in w.unlinks], (200, 204))
        refused = self._retire([i for w in writes for i in w.retire])
        self._send("POST", NOTES, [w.note for w in writes if w.note])
        return [
            _outcome(step, w, refused)
            if w is not None
            else StepOutcome(
                PushStatus.FAILED,
                {"error": f"survivor {step.survivor.id} is not in amoCRM"},
                survivor_id=step.survivor.id,
            )
            for step, w in zip(steps, planned, strict=True)
        ]

    def _send(
        self, method: str, path: str, items: list[dict[str, Any]], ok: tuple[int, ...] = (200,)
    ) -> None:
        for start in range(0, len(items), WRITE_LIMIT):
            response = self._transport.request(
                method, path, json=items[start : start + WRITE_LIMIT]
            )
            _answer(response, method, ok)

    def _retire(self, ids: list[str]) -> dict[str, Any]:
        """Tag or delete the losers; the web app's refusals by loser id (its delete answers
        200 with ``status: fail``)."""
        refused: dict[str, Any] = {}
        for start in range(0, len(ids), WRITE_LIMIT):
            request = self._retire_request(ids[start : start + WRITE_LIMIT])
            if request.method == "PATCH":
                self._send("PATCH", CONTACTS, request.body)
                continue
            # The web app's endpoint reads a form, as its own pages post it.
            response = self._transport.request(
                "POST", AJAX_DELETE, data=request.body, headers=_AJAX_HEADERS
            )
            answer = _answer(response, "POST", (200,))
            if answer.get("status") != "success":
                refused.update(dict.fromkeys(request.body["ID[]"], answer))
        return refused

    # -- undoing ---------------------------------------------------------------------

    @property
    def merges_are_final(self) -> bool:
        """Tagged losers stay in the account; deleted ones are in the trash, which the
        API cannot restore from (they are created again)."""
        return self.losers == "delete"

    def _restore_writes(
        self, step: RestoreStep, cards: dict[str, CrmContact]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        """The survivor's PATCH item, the tagged losers' untag items, new cards for the
        losers that are gone (``request_id`` = the old id), and notes."""
        survivor = cards.get(step.survivor.id, step.survivor)
        values = step.set_fields
        patch: dict[str, Any] = {"id": int(survivor.id)}
        if "first_name" in values or "last_name" in values:
            first = values.get("first_name", survivor.first_name)
            last = values.get("last_name", survivor.last_name)
            patch.update(first_name=first or "", last_name=last or "", name=_name(first, last))
        custom = [
            self._field(code, list(values[name]))
            for code, name in (("PHONE", "phones"), ("EMAIL", "emails"))
            if name in values
        ]
        if custom:
            patch["custom_fields_values"] = custom
        untag, create, notes = [], [], []
        for loser in step.losers:
            if loser.id in cards:
                untag.append({"id": int(loser.id), "tags_to_delete": [{"name": self.loser_tag}]})
                continue
            item: dict[str, Any] = {
                "request_id": loser.id,
                "first_name": loser.first_name or "",
                "last_name": loser.last_name or "",
                "name": _name(loser.first_name, loser.last_name),
            }
            fields = [
                self._field(code, list(held))
                for code, held in (("PHONE", loser.phones), ("EMAIL", loser.emails))
                if held
            ]
            if fields:
                item["custom_fields_values"] = fields
            create.append(item)
            notes.append(
                f"contact {loser.id} is in amoCRM's trash (the API cannot restore it): created "
                "again with its names, phones, e-mails and leads; its notes and tasks stay "
                "with the trashed card"
            )
        return (patch if len(patch) > 1 else None), untag, create, notes

    def _lead_moves(
        self, step: RestoreStep, survivor_id: str, ids: dict[str, str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each loser's leads linked to its card again, and unlinked from the survivor
        when it did not hold them before."""
        links, unlinks = [], []
        for loser in step.losers:
            for lead in loser.deal_ids:
                links.append(_link(lead, ids[loser.id]))
                if lead not in step.survivor_deals:
                    unlinks.append(_link(lead, survivor_id))
        return links, unlinks

    def plan_restore(self, step: RestoreStep) -> list[PlannedRequest]:
        """The requests `restore` sends for ``step`` (created cards' ids not yet known)."""
        cards = self._read([c.id for c in step.losers])
        patch, untag, create, _ = self._restore_writes(step, cards)
        ids = {c.id: c.id if c.id in cards else f"<new card for {c.id}>" for c in step.losers}
        links, unlinks = self._lead_moves(step, step.survivor.id, ids)
        planned = [
            PlannedRequest("PATCH", CONTACTS, [patch]) if patch else None,
            PlannedRequest("POST", CONTACTS, create) if create else None,
            PlannedRequest("PATCH", CONTACTS, untag) if untag else None,
            PlannedRequest("POST", LEADS_LINK, links) if links else None,
            PlannedRequest("POST", LEADS_UNLINK, unlinks) if unlinks else None,
        ]
        return [request for request in planned if request is not None]

    def restore(self, steps: Sequence[RestoreStep]) -> list[RestoreOutcome]:
        """Write the survivors' values back (first, so that no phone or e-mail is on two
        cards), bring back tagged losers or create the trashed ones again, then move
        their leads back."""
        cards = self._read([c.id for step in steps for c in (step.survivor, *step.losers)])
        writes = [self._restore_writes(step, cards) for step in steps]
        self._send("PATCH", CONTACTS, [patch for patch, *_ in writes if patch])
        created: dict[str, str] = {}
        new_items = [item for _, _, create, _ in writes for item in create]
        for start in range(0, len(new_items), WRITE_LIMIT):
            response = self._transport.request(
                "POST", CONTACTS, json=new_items[start : start + WRITE_LIMIT]
            )
            for record in _records(_answer(response, "POST", (200,))):
                created[str(record["request_id"])] = str(record["id"])
        self._send("PATCH", CONTACTS, [item for _, untag, _, _ in writes for item in untag])
        outcomes, links, unlinks = [], [], []
        for step, (patch, untag, create, notes) in zip(steps, writes, strict=True):
            ids = {c.id: created.get(c.id, c.id) for c in step.losers}
            step_links, step_unlinks = self._lead_moves(step, step.survivor.id, ids)
            links += step_links
            unlinks += step_unlinks
            answer = {
                "survivor": patch,
                "untagged": [item["id"] for item in untag],
                "created": {c["request_id"]: created.get(c["request_id"]) for c in create},
                "leads_linked": step_links,
            }
            status = "partly_restored" if notes else "restored"
            outcomes.append(RestoreOutcome(status, answer, ids, tuple(notes)))
        self._send("POST", LEADS_LINK, links)
        self._send("POST", LEADS_UNLINK, unlinks, (200, 204))
        return outcomes

    def close(self) -> None:
        """Close the transport."""
        self._transport.close()


# -- translation ------------------------------------------------------------------------------


_AJAX_HEADERS = {"X-Requested-With": "XMLHttpRequest"}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)


def _unix(value: datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | float) else None


def _records(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list((body.get("_embedded") or {}).get("contacts") or [])


def _multitext(fields: Any) -> dict[str, list[tuple[str, str]]]:
    """(value, enum_code) of the PHONE and EMAIL fields of ``custom_fields_values``."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in fields or []:
        code = entry.get("field_code")
        if code not in ("PHONE", "EMAIL"):
            continue
        for item in entry.get("values") or []:
            if value := _text(item.get("value")):
                found.setdefault(code, []).append((value, item.get("enum_code") or "WORK"))
    return found


def _link(lead: str, contact: str) -> dict[str, Any]:
    return {"entity_id": int(lead), "to_entity_id": int(contact), "to_entity_type": "contacts"}


def _outcome(step: MergeStep, writes: _Writes, refused: dict[str, Any]) -> StepOutcome:
    """The step's outcome and a short account of what it changed."""
    answer: dict[str, Any] = {"survivor": writes.survivor_id}
    if writes.updated:
        answer["updated"] = writes.updated
    if writes.links or writes.unlinks:
        answer["leads_linked"] = [link["entity_id"] for link in writes.links]
        answer["leads_unlinked"] = [
            {"lead": link["entity_id"], "contact": link["to_entity_id"]} for link in writes.unlinks
        ]
    if writes.retire:
        answer[writes.retired_as] = writes.retire
    if writes.not_stored:
        answer["not_stored"] = writes.not_stored
    if writes.note:
        answer["note"] = writes.note["params"]["text"]
    status = PushStatus.APPLIED
    if failed := [i for i in writes.retire if i in refused]:
        answer["refused"] = {i: refused[i] for i in failed}
        status = PushStatus.FAILED
    return StepOutcome(status, answer, survivor_id=step.survivor.id)


def _answer(response: httpx.Response, method: str, ok: tuple[int, ...]) -> dict[str, Any]:
    """The JSON answer (empty for 204), or CrmHttpError when the status is not in ``ok``."""
    try:
        body: Any = response.json() if response.content else {}
    except ValueError:
        body = response.text[:500]
    if response.status_code not in ok:
        detail = body
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("title")
            if body.get("validation-errors"):
                detail = f"{detail}: {body['validation-errors']}"
        raise CrmHttpError(
            f"{method} {redact(str(response.request.url))}: HTTP {response.status_code}: {detail}",
            status=response.status_code,
            body=body,
        )
    return body if isinstance(body, dict) else {}
