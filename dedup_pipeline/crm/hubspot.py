"""HubSpot contacts through the CRM API v3 (docs/notes/crm_protocols.md, "HubSpot").

- A full pull pages ``GET /crm/v3/objects/contacts`` with the deals inline; an
  incremental pull runs ``POST .../search`` on ``lastmodifieddate`` (a watermark loop
  around search's 10,000-result cap) and reads the deals through the v4 associations.
- A push sets each survivor's golden values in one ``batch/update``, then merges each
  loser into it with ``POST .../merge``. A merge may give the survivor a new id, so the
  next merge takes the id from the previous answer.
- HubSpot holds two phones (``phone``, ``mobilephone``). The survivor's own numbers keep
  their places (in the golden spelling); golden and duplicates' numbers fill what is
  left, and those beyond two are named in the step's answer under ``not_stored``: a push
  never writes over a number the card holds.
- E-mails identify HubSpot contacts: a contact cannot take an address another contact
  holds (409). So when a step has losers its e-mails are set after the merges, once the
  survivor holds every address; a golden address another contact keeps is left out and
  named under ``not_stored``. A merge fills the survivor's empty properties from the
  duplicate, so its phones are set again after the merges when that brought one back.
- Values the survivor holds already are not sent: pushing an instruction again sends
  nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

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

__all__ = ["HubSpotConnector"]

CONTACTS = "/crm/v3/objects/contacts"
SEARCH = f"{CONTACTS}/search"
BATCH_READ = f"{CONTACTS}/batch/read"
BATCH_UPDATE = f"{CONTACTS}/batch/update"
MERGE = f"{CONTACTS}/merge"
DEAL_ASSOCIATIONS = "/crm/v4/associations/contacts/deals/batch/read"
DEAL_ASSOCIATION = "/crm/v4/objects/contacts/{contact}/associations/deals/{deal}"
CONTACT_TO_DEAL = 4  # HUBSPOT_DEFINED association types
NOTE_TO_CONTACT = 202
NOTES = "/crm/v3/objects/notes"
NOTE_ASSOCIATIONS = "/crm/v4/associations/contacts/notes/batch/read"

#: The contact properties a pull reads.
PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "hs_additional_emails",
    "phone",
    "mobilephone",
    "company",
    "city",
    "createdate",
    "lastmodifieddate",
)
#: Golden field -> contact property, for the single-valued fields HubSpot has.
NAMED_FIELDS = {
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "city": "city",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH_OK = (200, 207)


_EMAIL_PROPERTIES = ("email", "hs_additional_emails")


def _email_properties(emails: list[str]) -> dict[str, str]:
    if not emails:
        return {}
    return {"email": emails[0], "hs_additional_emails": ";".join(emails[1:])}


@dataclass(frozen=True)
class _Prepared:
    """A step's requests: the properties set before merging, the e-mails after.

    ``own_emails`` are the addresses the step's cards hold already; golden addresses
    beyond them may belong to another HubSpot contact, which HubSpot refuses (409), and
    are then left out and listed in ``taken_emails``.
    """

    step: MergeStep
    update: dict[str, str]
    emails: list[str] = field(default_factory=list)
    not_stored: list[str] = field(default_factory=list)
    own_emails: list[str] = field(default_factory=list)
    taken_emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)

    @property
    def email_properties(self) -> dict[str, str]:
        return _email_properties(self.emails)

    @property
    def after_merge_properties(self) -> dict[str, str]:
        """What the survivor must hold once merged: a merge fills the primary's empty
        properties from the duplicate, which may bring a phone back in another spelling."""
        phones = {"phone": self.phones[0], "mobilephone": ""} if self.phones else {}
        if len(self.phones) > 1:
            phones["mobilephone"] = self.phones[1]
        emails = self.email_properties if not self.taken_emails else {}
        return {**phones, **emails}

    def without_taken_emails(self, properties: dict[str, str]) -> dict[str, str] | None:
        """``properties`` with only the cards' own addresses, or None when that changes
        nothing (the refusal was not about a golden address)."""
        own = {email_key(e) for e in self.own_emails}
        taken = [e for e in self.emails if email_key(e) not in own]
        if "email" not in properties or not taken:
            return None
        self.taken_emails[:] = taken
        kept = {k: v for k, v in properties.items() if k not in _EMAIL_PROPERTIES}
        return {**kept, **_email_properties(self.own_emails)}


class HubSpotConnector:
    """A HubSpot account's contacts, read and merged through a private app's token.

    Parameters
    ----------
    transport
        Requests to ``https://api.hubapi.com`` (rate-limited, retried).
    connection
        The source's ``crm`` block.
    default_region
        The source's region, for phones written without a country code.

    Attributes
    ----------
    page_size, search_page_size, search_cap
        List page (at most 100), search page (at most 200) and how far search pages
        (10,000); tests lower them.
    """

    kind = "hubspot"
    batch_size = 100
    # A merged contact cannot be split: undo can only create the duplicates again.
    merges_are_final = True
    page_size = 100
    search_page_size = 200
    search_cap = 10_000

    def __init__(
        self,
        transport: CrmTransport,
        *,
        connection: CrmConnection | None = None,
        default_region: str = "RU",
    ) -> None:
        self._transport = transport
        self.connection = connection
        self.default_region = default_region

    # -- reading -----------------------------------------------------------------------

    def pull(self, *, updated_since: datetime | None = None) -> Iterator[list[CrmContact]]:
        """Every contact, one list per page; with ``updated_since``, those whose
        ``lastmodifieddate`` is at or after it (through search)."""
        if updated_since is None:
            return self._list_all()
        return self._search_since(updated_since)

    def _list_all(self) -> Iterator[list[CrmContact]]:
        params: dict[str, Any] = {
            "limit": self.page_size,
            "properties": ",".join(PROPERTIES),
            "associations": "deals",
        }
        after: str | None = None
        while True:
            query = {**params, "after": after} if after else params
            page = self._call("GET", CONTACTS, params=query)
            records = page.get("results") or []
            deals = self._inline_deals(records)
            if records:
                yield [_contact(r, deals.get(str(r["id"]), ())) for r in records]
            after = _next_after(page)
            if after is None:
                return

    def _search_since(self, since: datetime) -> Iterator[list[CrmContact]]:
        """The watermark loop: search GTE the watermark, ascending; before the cap, restart
        from the last ``lastmodifieddate`` seen. Ties and the inclusive GTE repeat
        contacts, so each is yielded once."""
        watermark = _epoch_ms(since)
        seen: set[str] = set()
        while True:
            read, after, last = 0, None, watermark
            while True:
                page = self._call("POST", SEARCH, json=self._search_body(watermark, after))
                records = page.get("results") or []
                read += len(records)
                if records:
                    last = _epoch_ms(_modified(records[-1])) or last
                fresh = [r for r in records if str(r["id"]) not in seen]
                seen.update(str(r["id"]) for r in fresh)
                if fresh:
                    deals = self._deals_of([str(r["id"]) for r in fresh])
                    yield [_contact(r, deals.get(str(r["id"]), ())) for r in fresh]
                after = _next_after(page)
                if after is None:
                    return
                if read + self.search_page_size > self.search_cap:
                    break
            if last <= watermark:
                raise CrmHttpError(
                    f"more than {self.search_cap} HubSpot contacts share lastmodifieddate "
                    f"{watermark} (epoch ms): search cannot page past them"
                )
            watermark = last

    def _search_body(self, watermark: int, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "lastmodifieddate",
                            "operator": "GTE",
                            "value": str(watermark),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(PROPERTIES),
            "limit": self.search_page_size,
        }
        if after is not None:
            body["after"] = after
        return body

    def fetch(self, ids: Sequence[str]) -> dict[str, CrmContact]:
        """The cards of ``ids``, keyed by the requested id. A merged-away id maps to its
        survivor's card (found through the survivor's ``hs_merged_object_ids``)."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, self.batch_size):
            body = {
                "properties": [*PROPERTIES, "hs_merged_object_ids"],
                "inputs": [{"id": i} for i in chunk],
            }
            response = self._transport.request("POST", BATCH_READ, json=body)
            if response.status_code == 404:  # none of them exists
                continue
            for record in _answer(response, "POST", BATCH_READ, _BATCH_OK).get("results") or []:
                props = record.get("properties") or {}
                names = {str(record["id"]), *_split(props.get("hs_merged_object_ids"))}
                for requested in names & set(chunk):
                    found[requested] = record
        contact_ids = list(dict.fromkeys(str(r["id"]) for r in found.values()))
        deals = self._deals_of(contact_ids)
        notes = self._notes_of(contact_ids)
        return {
            requested: replace(
                _contact(record, deals.get(str(record["id"]), ())),
                notes=notes.get(str(record["id"]), ()),
            )
            for requested, record in found.items()
        }

    def _notes_of(self, contact_ids: list[str]) -> dict[str, tuple[str, ...]]:
        """The notes a push left on these contacts (v4 associations, then the notes)."""
        owners: dict[str, str] = {}
        for chunk in _chunks(contact_ids, self.batch_size):
            body = {"inputs": [{"id": i} for i in chunk]}
            page = self._call("POST", NOTE_ASSOCIATIONS, json=body, ok=_BATCH_OK)
            for result in page.get("results") or []:
                for link in result.get("to") or []:
                    owners[str(link["toObjectId"])] = str(result["from"]["id"])
        notes: dict[str, tuple[str, ...]] = {}
        for chunk in _chunks(list(owners), self.batch_size):
            body = {"properties": ["hs_note_body"], "inputs": [{"id": i} for i in chunk]}
            page = self._call("POST", f"{NOTES}/batch/read", json=body, ok=_BATCH_OK)
            for record in page.get("results") or []:
                text = (record.get("properties") or {}).get("hs_note_body") or ""
                if text.startswith(NOTE_PREFIX):
                    owner = owners[str(record["id"])]
                    notes[owner] = (*notes.get(owner, ()), text)
        return notes

    def _inline_deals(self, records: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
        """Deal ids from the list's inline associations; re-read through v4 for contacts
        whose inline list is paged."""
        deals: dict[str, tuple[str, ...]] = {}
        paged: list[str] = []
        for record in records:
            inline = (record.get("associations") or {}).get("deals") or {}
            ids = (str(link["id"]) for link in inline.get("results") or [])
            deals[str(record["id"])] = tuple(dict.fromkeys(ids))
            if inline.get("paging"):
                paged.append(str(record["id"]))
        if paged:
            deals.update(self._deals_of(paged))
        return deals

    def _deals_of(self, contact_ids: list[str]) -> dict[str, tuple[str, ...]]:
        """Deal ids of contacts, through the v4 batch association read."""
        deals: dict[str, tuple[str, ...]] = {}
        for chunk in _chunks(contact_ids, self.batch_size):
            body = {"inputs": [{"id": i} for i in chunk]}
            page = self._call("POST", DEAL_ASSOCIATIONS, json=body, ok=_BATCH_OK)
            for result in page.get("results") or []:
                linked = (str(link["toObjectId"]) for link in result.get("to") or [])
                contact_id = str(result["from"]["id"])
                deals[contact_id] = tuple(dict.fromkeys((*deals.get(contact_id, ()), *linked)))
        return deals

    # -- writing -------------------------------------------------------------------------

    def plan(self, step: MergeStep) -> list[PlannedRequest]:
        """The requests `apply` sends for ``step``. A merge may re-number the survivor:
        later merges and the update after them go to the id the CRM answers, and that
        update is left out when the merged card holds its values already."""
        prepared = self._prepare(step)
        survivor = step.survivor.id
        requests = []
        if prepared.update:
            inputs = [{"id": survivor, "properties": prepared.update}]
            requests.append(PlannedRequest("POST", BATCH_UPDATE, {"inputs": inputs}))
        requests += [
            PlannedRequest(
                "POST", MERGE, {"primaryObjectId": survivor, "objectIdToMerge": loser.id}
            )
            for loser in step.losers
        ]
        if step.losers and prepared.after_merge_properties:
            body = {"properties": prepared.after_merge_properties}
            requests.append(PlannedRequest("PATCH", f"{CONTACTS}/{survivor}", body))
        text = not_stored_note({"phones": prepared.not_stored})
        if text and text not in step.survivor.notes:
            requests.append(PlannedRequest("POST", NOTES, _note_body(survivor, text)))
        return requests

    def apply(self, steps: Sequence[MergeStep]) -> list[StepOutcome]:
        """Set the golden values of every survivor (one ``batch/update``), then merge each
        step's losers into its survivor, in order.

        Raises
        ------
        CrmHttpError
            When HubSpot cannot be reached, or refuses the token.
        """
        prepared = [self._prepare(step) for step in steps]
        refused = self._update(prepared)
        return [
            StepOutcome(
                PushStatus.FAILED, {"update": refused[index]}, survivor_id=item.step.survivor.id
            )
            if index in refused
            else self._merge_losers(item)
            for index, item in enumerate(prepared)
        ]

    def _prepare(self, step: MergeStep) -> _Prepared:
        golden = step.set_fields
        update = {
            name: golden[key].strip()
            for key, name in NAMED_FIELDS.items()
            if isinstance(golden.get(key), str) and golden[key].strip()
        }
        phones = merged_phones(
            golden.get("phones") or (),
            step.survivor.phones,
            *(loser.phones for loser in step.losers),
            region=self.default_region,
        )
        # The survivor's own numbers keep their places: golden numbers fill the slots
        # left, and what does not fit is reported, never written over a held number.
        slots = {
            phone_key(phone, region=self.default_region): slot
            for slot, phone in reversed(list(enumerate(step.survivor.phones)))
        }
        phones = sorted(
            phones,
            key=lambda phone: slots.get(phone_key(phone, region=self.default_region), len(slots)),
        )
        if phones:
            update["phone"] = phones[0]
            update["mobilephone"] = phones[1] if len(phones) > 1 else ""
        emails = merged_emails(
            golden.get("emails") or (),
            step.survivor.emails,
            *(loser.emails for loser in step.losers),
        )
        own = merged_emails(step.survivor.emails, *(loser.emails for loser in step.losers))
        prepared = _Prepared(step, update, emails, phones[2:], own, phones=phones)
        if not step.losers:  # no address of another card: set them with the rest
            update.update(prepared.email_properties)
        # Values the survivor holds already are not sent (a step may need no request).
        held = _properties_of(step.survivor)
        for name in [name for name, value in update.items() if held.get(name, "") == value]:
            del update[name]
        return prepared

    def _update(self, prepared: list[_Prepared]) -> dict[int, Any]:
        """Send the survivors' properties; the answers of the steps HubSpot refused, by
        index. A refused batch is retried one PATCH per step, so that one bad step does
        not fail the others."""
        refused: dict[int, Any] = {}
        for group in _unique_id_groups(prepared, self.batch_size):
            inputs = [{"id": p.step.survivor.id, "properties": p.update} for _, p in group]
            response = self._transport.request("POST", BATCH_UPDATE, json={"inputs": inputs})
            if response.status_code == 200:
                continue
            _raise_for_auth(response, "POST", BATCH_UPDATE)
            for index, item in group:
                path = f"{CONTACTS}/{item.step.survivor.id}"
                single = self._patch(path, item, item.update)
                if single.status_code != 200:
                    refused[index] = _error(single)
        return refused

    def _patch(self, path: str, item: _Prepared, properties: dict[str, str]) -> httpx.Response:
        """PATCH a survivor; when HubSpot refuses a golden address another contact holds
        (409), again with the cards' own addresses only."""
        response = self._transport.request("PATCH", path, json={"properties": properties})
        _raise_for_auth(response, "PATCH", path)
        if response.status_code == 409:
            fallback = item.without_taken_emails(properties)
            if fallback == {}:  # the taken addresses were all there was to set
                return httpx.Response(200, json={})
            if fallback is not None:
                response = self._transport.request("PATCH", path, json={"properties": fallback})
                _raise_for_auth(response, "PATCH", path)
        return response

    def _merge_losers(self, item: _Prepared) -> StepOutcome:
        """Merge the step's losers one by one into the current survivor id, then set its
        e-mails; a loser already merged into it (a retried merge whose answer was lost)
        counts as merged."""
        step = item.step
        current = step.survivor.id
        card: CrmContact | None = None
        merges: list[dict[str, Any]] = []
        answer: dict[str, Any] = {"updated": item.update, "merges": merges}
        for loser in step.losers:
            body = {"primaryObjectId": current, "objectIdToMerge": loser.id}
            response = self._transport.request("POST", MERGE, json=body)
            _raise_for_auth(response, "POST", MERGE)
            if response.status_code == 200:
                card = _contact(response.json(), ())
                result = "merged"
            elif response.status_code == 400 and (card := self._merged_into(loser.id, current)):
                result = "already_merged"
            else:
                answer["error"] = {"loser": loser.id, **_error(response)}
                return StepOutcome(PushStatus.FAILED, answer, survivor_id=current)
            current = card.id
            merges.append({"loser": loser.id, "result": result, "survivor": current})
        if step.losers and card is not None:
            held = _properties_of(card)
            missing = {
                name: value
                for name, value in item.after_merge_properties.items()
                if held.get(name, "") != value
            }
            if missing:
                response = self._patch(f"{CONTACTS}/{current}", item, missing)
                if response.status_code != 200:
                    answer["error"] = {"after_merge": missing, **_error(response)}
                    return StepOutcome(PushStatus.FAILED, answer, survivor_id=current)
        not_stored = {"phones": item.not_stored, "emails": item.taken_emails}
        if any(not_stored.values()):
            answer["not_stored"] = {k: v for k, v in not_stored.items() if v}
        # Merged cards' notes are the survivor's now.
        held = {note for c in (step.survivor, *step.losers) for note in c.notes}
        if (text := not_stored_note(not_stored)) and text not in held:
            response = self._transport.request("POST", NOTES, json=_note_body(current, text))
            _raise_for_auth(response, "POST", NOTES)
            answer["note"] = text if response.status_code == 201 else _error(response)
        answer["survivor"] = current
        return StepOutcome(PushStatus.APPLIED, answer, survivor_id=current)

    def _merged_into(self, loser_id: str, survivor_id: str) -> CrmContact | None:
        """The survivor's card when ``loser_id`` already resolves to it, else None."""
        cards = self.fetch([loser_id, survivor_id])
        loser, survivor = cards.get(loser_id), cards.get(survivor_id)
        if loser is not None and survivor is not None and loser.id == survivor.id:
            return survivor
        return None

    # -- undo ------------------------------------------------------------------------------

    def _restore_requests(self, step: RestoreStep) -> list[PlannedRequest]:
        values = step.set_fields
        properties = {
            prop: values[key] or "" for key, prop in NAMED_FIELDS.items() if key in values
        }
        if "phones" in values:
            phones = [*values["phones"], "", ""]
            properties.update(phone=phones[0], mobilephone=phones[1])
        if "emails" in values:
            emails = list(values["emails"])
            properties.update(
                _email_properties(emails) or {"email": "", "hs_additional_emails": ""}
            )
        survivor = step.survivor.id
        requests = []
        if properties:
            body = {"properties": properties}
            requests.append(PlannedRequest("PATCH", f"{CONTACTS}/{survivor}", body))
        emails = _unclaimed_emails(step)
        for loser in step.losers:
            card = replace(loser, emails=tuple(emails[loser.id][0]))
            created = {k: v for k, v in _properties_of(card).items() if v}
            associations = [
                {
                    "to": {"id": deal},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": CONTACT_TO_DEAL,
                        }
                    ],
                }
                for deal in loser.deal_ids
            ]
            body = {"properties": created, "associations": associations}
            requests.append(PlannedRequest("POST", CONTACTS, body))
        requests += [
            PlannedRequest("DELETE", DEAL_ASSOCIATION.format(contact=survivor, deal=deal))
            for loser in step.losers
            for deal in loser.deal_ids
            if deal not in step.survivor_deals
        ]
        return requests

    def plan_restore(self, step: RestoreStep) -> list[PlannedRequest]:
        """The requests `restore` sends for ``step``."""
        return self._restore_requests(step)

    def restore(self, steps: Sequence[RestoreStep]) -> list[RestoreOutcome]:
        """Per step: the survivor's values back (first, so that its duplicates' addresses
        are free), each merged contact created again with its deals, and those deals
        taken off the survivor when it did not hold them before."""
        outcomes = []
        for step in steps:
            answers: list[Any] = []
            cards: dict[str, str] = {}
            losers = iter(step.losers)
            failed = False
            unaddressed: list[str] = []
            for request in self._restore_requests(step):
                response = self._transport.request(request.method, request.path, json=request.body)
                _raise_for_auth(response, request.method, request.path)
                if request.method == "POST":
                    loser = next(losers)
                    if response.status_code == 409:
                        # An address another contact took meanwhile: the card comes back
                        # without its addresses rather than not at all.
                        properties = {
                            k: v
                            for k, v in request.body["properties"].items()
                            if k not in _EMAIL_PROPERTIES
                        }
                        body = {**request.body, "properties": properties}
                        response = self._transport.request("POST", CONTACTS, json=body)
                        _raise_for_auth(response, "POST", CONTACTS)
                        unaddressed.append(loser.id)
                    if response.status_code == 201:
                        cards[loser.id] = str(_body(response)["id"])
                answers.append({"request": f"{request.method} {request.path}", **_error(response)})
                if response.status_code not in (200, 201, 204):
                    failed = True
                    break
            emails = _unclaimed_emails(step)
            notes = tuple(
                f"contact {loser.id} was merged away (HubSpot merges are final): created "
                f"again as {cards.get(loser.id, '?')} with its names, phones, e-mails and "
                f"deals; its activity history stays on the merged contact, and {loser.id} "
                "still leads there"
                + (
                    f"; {', '.join(taken)} stays with another card (a HubSpot address "
                    "belongs to one contact)"
                    if (taken := emails[loser.id][1])
                    else ""
                )
                + (
                    "; its addresses belong to other contacts now, so it has none"
                    if loser.id in unaddressed
                    else ""
                )
                for loser in step.losers
            )
            status = "failed" if failed else ("partly_restored" if notes else "restored")
            outcomes.append(RestoreOutcome(status, answers, cards, notes))
        return outcomes

    def close(self) -> None:
        """Close the transport."""
        self._transport.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> dict[str, Any]:
        response = self._transport.request(method, path, params=params, json=json)
        return _answer(response, method, path, ok)


# -- translation ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _split(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(";") if part.strip()]


def _time(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as an aware UTC datetime."""
    text = _text(value)
    if text is None:
        return None
    if text.isdigit():
        return _EPOCH + timedelta(milliseconds=int(text))
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epoch_ms(value: datetime | None) -> int:
    if value is None:
        return 0
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


def _modified(record: dict[str, Any]) -> datetime | None:
    props = record.get("properties") or {}
    return _time(props.get("lastmodifieddate") or record.get("updatedAt"))


def _contact(record: dict[str, Any], deal_ids: Sequence[str]) -> CrmContact:
    """A ``SimplePublicObject`` as a CRM-neutral card."""
    props = record.get("properties") or {}
    phones = (_text(props.get("phone")), _text(props.get("mobilephone")))
    emails = [_text(props.get("email")), *_split(props.get("hs_additional_emails"))]
    return CrmContact(
        id=str(record["id"]),
        first_name=_text(props.get("firstname")),
        last_name=_text(props.get("lastname")),
        company=_text(props.get("company")),
        city=_text(props.get("city")),
        phones=tuple(phone for phone in phones if phone),
        emails=tuple(dict.fromkeys(email for email in emails if email)),
        deal_ids=tuple(str(deal) for deal in deal_ids),
        created_at=_time(props.get("createdate") or record.get("createdAt")),
        updated_at=_modified(record),
    )


def _properties_of(card: CrmContact) -> dict[str, str]:
    """The properties a card holds, as `_prepare` writes them."""
    held = {
        name: value
        for key, name in NAMED_FIELDS.items()
        if (value := getattr(card, key)) is not None
    }
    phones = [*card.phones, "", ""]
    return {
        **held,
        "phone": phones[0],
        "mobilephone": phones[1],
        **_email_properties(list(card.emails)),
    }


def _unclaimed_emails(step: RestoreStep) -> dict[str, tuple[list[str], list[str]]]:
    """Each merged card's addresses, split into those it can take back and those another
    card keeps (the survivor, or a card of the step created before it): HubSpot gives an
    address to one contact only."""
    survivor = step.set_fields.get("emails", step.survivor.emails)
    claimed = {email_key(e) for e in survivor}
    split: dict[str, tuple[list[str], list[str]]] = {}
    for loser in step.losers:
        kept = [e for e in loser.emails if email_key(e) not in claimed]
        split[loser.id] = (kept, [e for e in loser.emails if email_key(e) in claimed])
        claimed |= {email_key(e) for e in kept}
    return split


def _note_body(contact_id: str, text: str) -> dict[str, Any]:
    """A note on a contact's timeline, stamped now."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    association = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}
    return {
        "properties": {"hs_note_body": text, "hs_timestamp": stamp},
        "associations": [{"to": {"id": contact_id}, "types": [association]}],
    }


def _next_after(page: dict[str, Any]) -> str | None:
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _unique_id_groups(prepared: list[_Prepared], size: int) -> list[list[tuple[int, _Prepared]]]:
    """The steps with properties to set, in batches of at most ``size`` that name each
    survivor once (HubSpot refuses a batch naming an id twice)."""
    groups: list[list[tuple[int, _Prepared]]] = []
    for index, item in enumerate(prepared):
        if not item.update:
            continue
        target = next(
            (
                group
                for group in groups
                if len(group) < size
                and all(other.step.survivor.id != item.step.survivor.id for _, other in group)
            ),
            None,
        )
        if target is None:
            groups.append(target := [])
        target.append((index, item))
    return groups


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _error(response: httpx.Response) -> dict[str, Any]:
    """A refused request's status and HubSpot's message, for the ledger."""
    body = _body(response)
    if isinstance(body, dict):
        body = {k: body[k] for k in ("message", "category", "errors") if k in body}
    return {"status": response.status_code, "body": body}


def _raise_for_auth(response: httpx.Response, method: str, path: str) -> None:
    if response.status_code in (401, 403):
        _answer(response, method, path, ())


def _answer(
    response: httpx.Response, method: str, path: str, ok: tuple[int, ...]
) -> dict[str, Any]:
    """The JSON answer, or CrmHttpError when its status is not in ``ok``."""
    body = _body(response)
    if response.status_code not in ok:
        message = body.get("message") if isinstance(body, dict) else body
        raise CrmHttpError(
            f"{method} {redact(str(response.request.url))}: HTTP {response.status_code}: {message}",
            status=response.status_code,
            body=body,
        )
    if not isinstance(body, dict):
        raise CrmHttpError(
            f"{method} {path}: HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
            body=body,
        )
    return body
