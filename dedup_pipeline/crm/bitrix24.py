"""Bitrix24 over an inbound webhook: contacts pulled with ``crm.item.list``, merges
applied with ``crm.contact.update`` and ``crm.entity.mergeBatch``, many to a ``batch``.

Bitrix24 allows 2 requests a second, and one ``batch`` call carries up to 50 commands,
so pulls ask for 50 pages at a time and pushes send 25 instructions (an update and a
merge each) per call. Golden values are set through ``crm.contact.update`` rather than
``crm.item.update``, which can only add phones and e-mails (docs/notes/crm_protocols.md).
A merge Bitrix24 refuses (CONFLICT: the cards disagree on a name) waits for a person, with
the link to the portal's merge page, unless ``on_conflict: align`` sets the golden names
on the duplicates and merges again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

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
from dedup_pipeline.crm.phpquery import build_query
from dedup_pipeline.crm.transport import CrmHttpError, CrmTransport
from dedup_pipeline.crm.values import email_key, merged_emails, merged_phones, phone_key

__all__ = ["Bitrix24Connector"]

CONTACT = 3
PAGE_SIZE = 50
MAX_COMMANDS = 50
_NAMES = {"first_name": "NAME", "middle_name": "SECOND_NAME", "last_name": "LAST_NAME"}


def _stamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _items(payload: Any) -> list[dict[str, Any]]:
    return list((payload or {}).get("items") or []) if isinstance(payload, dict) else []


class Bitrix24Connector:
    """Contacts of one Bitrix24 portal.

    Parameters
    ----------
    transport
        Requests to the webhook root (``https://<portal>/rest/<user id>/<secret>``).
    connection
        The source's ``crm`` block (conflict handling, the portal's address for links).
    default_region
        Region for phones written without a country code.
    """

    kind = "bitrix24"
    # An update and a merge per instruction, 50 commands per batch call.
    batch_size = MAX_COMMANDS // 2
    # crm.entity.mergeBatch deletes the duplicates; there is no unmerge.
    merges_are_final = True

    def __init__(
        self,
        transport: CrmTransport,
        *,
        connection: CrmConnection | None = None,
        default_region: str = "RU",
    ) -> None:
        self._transport = transport
        self._align = connection is not None and connection.on_conflict == "align"
        portal = urlsplit(connection.url) if connection is not None else None
        self._portal = f"{portal.scheme}://{portal.netloc}" if portal else ""
        self._region = default_region
        # Multi-field rows (with their ids) of the cards last read, for crm.contact.update.
        self._fm: dict[str, list[dict[str, Any]]] = {}

    # -- requests --------------------------------------------------------------------

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self._transport.request("POST", f"{method}.json", json=params)
        payload = response.json() if response.content else {}
        if response.status_code >= 400 or "error" in payload:
            raise CrmHttpError(
                f"Bitrix24 {method}: {payload.get('error')} {payload.get('error_description')}",
                status=response.status_code,
                body=payload,
            )
        return payload

    def _batch(self, commands: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        cmd = {key: f"{method}?{build_query(params)}" for key, (method, params) in commands.items()}
        result = self._call("batch", {"halt": 0, "cmd": cmd})["result"]
        # PHP sends an empty map as [].
        return {
            "result": result.get("result") or {},
            "result_error": result.get("result_error") or {},
        }

    def _batches(self, commands: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Any number of commands, 50 per batch call, their answers together."""
        answer: dict[str, Any] = {"result": {}, "result_error": {}}
        keys = list(commands)
        for offset in range(0, len(keys), MAX_COMMANDS):
            part = self._batch({k: commands[k] for k in keys[offset : offset + MAX_COMMANDS]})
            answer["result"].update(part["result"])
            answer["result_error"].update(part["result_error"])
        return answer

    # -- pull ------------------------------------------------------------------------

    def _list_params(self, start: int, updated_since: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "entityTypeId": CONTACT,
            "select": ["*"],  # fm (phones, e-mails) comes only with select "*"
            "order": {"id": "ASC"},
            "start": start,
        }
        if updated_since is not None:
            params["filter"] = {">=updatedTime": updated_since.isoformat()}
        return params

    def pull(self, *, updated_since: datetime | None = None) -> Iterator[list[CrmContact]]:
        """Every contact (or those updated at or after ``updated_since``), 50 pages of 50
        per batch call."""
        first = self._call("crm.item.list", self._list_params(0, updated_since))
        yield self._contacts(_items(first.get("result")))
        total = int(first.get("total") or 0)
        starts = list(range(PAGE_SIZE, total, PAGE_SIZE))
        for offset in range(0, len(starts), MAX_COMMANDS):
            chunk = starts[offset : offset + MAX_COMMANDS]
            commands = {
                f"p{start}": ("crm.item.list", self._list_params(start, updated_since))
                for start in chunk
            }
            answer = self._batch(commands)
            if answer["result_error"]:
                raise CrmHttpError(f"Bitrix24 crm.item.list: {answer['result_error']}", body=answer)
            for start in chunk:
                yield self._contacts(_items(answer["result"].get(f"p{start}")))

    def _contacts(self, items: list[dict[str, Any]]) -> list[CrmContact]:
        contacts = []
        for item in items:
            contact_id = str(item["id"])
            fm = [row for row in item.get("fm") or [] if row.get("value")]
            self._fm[contact_id] = fm
            contacts.append(
                CrmContact(
                    id=contact_id,
                    first_name=item.get("name") or None,
                    middle_name=item.get("secondName") or None,
                    last_name=item.get("lastName") or None,
                    phones=tuple(r["value"] for r in fm if r.get("typeId") == "PHONE"),
                    emails=tuple(r["value"] for r in fm if r.get("typeId") == "EMAIL"),
                    created_at=_stamp(item.get("createdTime")),
                    updated_at=_stamp(item.get("updatedTime")),
                )
            )
        return contacts

    def fetch(self, ids: Sequence[str]) -> dict[str, CrmContact]:
        """The current cards of ``ids`` (50 per list command, 50 commands per call)."""
        unique = list(dict.fromkeys(str(i) for i in ids))
        chunks = [unique[i : i + PAGE_SIZE] for i in range(0, len(unique), PAGE_SIZE)]
        found: dict[str, CrmContact] = {}
        for offset in range(0, len(chunks), MAX_COMMANDS):
            commands = {
                f"f{n}": (
                    "crm.item.list",
                    {
                        "entityTypeId": CONTACT,
                        "select": ["*"],
                        "filter": {"@id": [int(i) for i in chunk]},
                        "start": -1,
                    },
                )
                for n, chunk in enumerate(chunks[offset : offset + MAX_COMMANDS])
            }
            answer = self._batch(commands)
            if answer["result_error"]:
                raise CrmHttpError(f"Bitrix24 crm.item.list: {answer['result_error']}")
            for key in commands:
                for contact in self._contacts(_items(answer["result"].get(key))):
                    found[contact.id] = contact
        notes = self._notes_of(list(found))
        return {i: replace(c, notes=notes.get(i, ())) for i, c in found.items()}

    def _notes_of(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """The comments a push left in these contacts' timelines, by contact id."""
        commands = {
            f"n{i}": (
                "crm.timeline.comment.list",
                {
                    "filter": {"ENTITY_ID": int(i), "ENTITY_TYPE": "contact"},
                    "select": ["ID", "COMMENT"],
                },
            )
            for i in ids
        }
        answer = self._batches(commands)
        if answer["result_error"]:
            raise CrmHttpError(f"Bitrix24 crm.timeline.comment.list: {answer['result_error']}")
        return {
            i: tuple(
                text
                for c in answer["result"].get(f"n{i}") or []
                if (text := c.get("COMMENT") or "").startswith(NOTE_PREFIX)
            )
            for i in ids
        }

    # -- push ------------------------------------------------------------------------

    def merge_url(self, ids: Sequence[str]) -> str:
        """The portal's page where a person merges these contacts."""
        return f"{self._portal}/crm/contact/merge/?id={','.join(ids)}"

    def _multi_entries(
        self, contact: CrmContact, kind: str, golden: list[str]
    ) -> list[dict[str, Any]]:
        """crm.contact.update entries that leave ``golden`` on the card: a stored value
        the golden list holds in another spelling is rewritten, a missing one added;
        values the golden list lacks are kept."""
        key = (lambda v: phone_key(v, region=self._region)) if kind == "PHONE" else email_key
        rows = [r for r in self._fm.get(contact.id, []) if r.get("typeId") == kind]
        golden_by_key = {key(value): value for value in golden}
        entries: list[dict[str, Any]] = []
        covered: set[str] = set()
        for row in rows:
            value_key = key(row["value"])
            target = golden_by_key.get(value_key)
            if target is None:
                continue
            if value_key in covered:  # the same number twice on one card
                entries.append({"ID": row["id"], "DELETE": "Y"})
            elif target != row["value"]:
                entries.append({"ID": row["id"], "VALUE": target, "VALUE_TYPE": row["valueType"]})
            covered.add(value_key)
        entries += [
            {"VALUE": value, "VALUE_TYPE": "WORK"}
            for value_key, value in golden_by_key.items()
            if value_key not in covered
        ]
        return entries

    def _update_fields(self, step: MergeStep) -> dict[str, Any]:
        survivor = step.survivor
        fields: dict[str, Any] = {
            target: step.set_fields[name]
            for name, target in _NAMES.items()
            if name in step.set_fields and step.set_fields[name] != getattr(survivor, name)
        }
        return {**fields, **self._multi_fields(survivor, step.set_fields)}

    def _multi_fields(self, card: CrmContact, set_fields: dict[str, Any]) -> dict[str, Any]:
        """PHONE / EMAIL entries that leave the golden lists on ``card``."""
        golden = {
            "PHONE": merged_phones(set_fields.get("phones") or [], region=self._region),
            "EMAIL": merged_emails(set_fields.get("emails") or []),
        }
        return {
            kind: entries
            for kind, values in golden.items()
            if values and (entries := self._multi_entries(card, kind, values))
        }

    def _commands(self, step: MergeStep, n: int) -> dict[str, tuple[str, dict[str, Any]]]:
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        if fields := self._update_fields(step):
            commands[f"u{n}"] = (
                "crm.contact.update",
                {"id": int(step.survivor.id), "fields": fields},
            )
        if step.losers:
            ids = [int(step.survivor.id), *(int(c.id) for c in step.losers)]
            commands[f"m{n}"] = (
                "crm.entity.mergeBatch",
                {"params": {"entityTypeId": CONTACT, "entityIds": ids}},
            )
        note = not_stored_note(self._not_stored(step))
        if note and note not in step.survivor.notes:
            fields = {"ENTITY_ID": int(step.survivor.id), "ENTITY_TYPE": "contact", "COMMENT": note}
            commands[f"n{n}"] = ("crm.timeline.comment.add", {"fields": fields})
        return commands

    def plan(self, step: MergeStep) -> list[PlannedRequest]:
        """The batch commands `apply` sends for ``step``."""
        return [
            PlannedRequest("POST", method, params)
            for method, params in self._commands(step, 0).values()
        ]

    def _not_stored(self, step: MergeStep) -> dict[str, Any]:
        # Companies and addresses are separate records in Bitrix24.
        return {k: v for k, v in step.set_fields.items() if k in {"company", "city"}}

    def apply(self, steps: Sequence[MergeStep]) -> list[StepOutcome]:
        """Send the steps' updates and merges in one batch call (25 steps at most)."""
        if len(steps) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} steps per call, got {len(steps)}")
        commands = {
            key: command
            for n, step in enumerate(steps)
            for key, command in self._commands(step, n).items()
        }
        answer = self._batch(commands) if commands else {"result": {}, "result_error": {}}
        outcomes = [self._outcome(step, n, answer) for n, step in enumerate(steps)]
        if self._align:
            outcomes = self._merge_conflicts_again(steps, outcomes)
        self._tidy(steps, outcomes)
        return outcomes

    def _tidy(self, steps: Sequence[MergeStep], outcomes: list[StepOutcome]) -> None:
        """After merges, remove the second spelling of a golden phone or e-mail that a
        duplicate brought ("8 (912) 345-67-89" beside "+79123456789"): one read and one
        write for the whole batch."""
        merged = [
            step
            for step, outcome in zip(steps, outcomes, strict=True)
            if step.losers and outcome.status == PushStatus.APPLIED
        ]
        if not merged:
            return
        # When this fails the push stops and records the batch as failed: its re-run
        # finds the duplicates merged and sends the tidying as the survivor's update.
        cards = self.fetch([step.survivor.id for step in merged])
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        for n, step in enumerate(merged):
            card = cards.get(step.survivor.id)
            if card is None:
                continue
            fields = self._multi_fields(card, step.set_fields)
            if fields:
                commands[f"t{n}"] = ("crm.contact.update", {"id": int(card.id), "fields": fields})
        if commands:
            self._batch(commands)

    def _outcome(self, step: MergeStep, n: int, answer: dict[str, Any]) -> StepOutcome:
        results, errors = answer["result"], answer["result_error"]
        given = {
            key: results.get(key, errors.get(key))
            for key in (f"u{n}", f"m{n}", f"n{n}")
            if key in results or key in errors
        }
        survivor = step.survivor.id
        if not_stored := self._not_stored(step):
            given["not_stored"] = not_stored  # and in a note on the card (n<step>)
        if f"u{n}" in errors:
            return StepOutcome(PushStatus.FAILED, given, survivor)
        if not step.losers:
            return StepOutcome(PushStatus.APPLIED, given, survivor)
        if f"m{n}" in errors:
            return StepOutcome(PushStatus.FAILED, given, survivor)
        status = (results.get(f"m{n}") or {}).get("STATUS")
        if status == "SUCCESS":
            return StepOutcome(PushStatus.APPLIED, given, survivor)
        if status == "CONFLICT":
            ids = [survivor, *(c.id for c in step.losers)]
            return StepOutcome(PushStatus.CONFLICT, given, survivor, self.merge_url(ids))
        return StepOutcome(PushStatus.FAILED, given, survivor)

    def _merge_conflicts_again(
        self, steps: Sequence[MergeStep], outcomes: list[StepOutcome]
    ) -> list[StepOutcome]:
        """Set the survivor's names on the duplicates of conflicting steps, merge again."""
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        retried: list[int] = []
        for n, (step, outcome) in enumerate(zip(steps, outcomes, strict=True)):
            if outcome.status != PushStatus.CONFLICT:
                continue
            names = {
                target: step.set_fields.get(name, getattr(step.survivor, name)) or ""
                for name, target in _NAMES.items()
            }
            for loser in step.losers:
                commands[f"a{n}_{loser.id}"] = (
                    "crm.contact.update",
                    {"id": int(loser.id), "fields": names},
                )
            ids = [int(step.survivor.id), *(int(c.id) for c in step.losers)]
            commands[f"m{n}"] = (
                "crm.entity.mergeBatch",
                {"params": {"entityTypeId": CONTACT, "entityIds": ids}},
            )
            retried.append(n)
        if not commands:
            return outcomes
        # At most 25 steps with a few duplicates each: split when over 50 commands.
        answer = self._batches(commands)
        for n in retried:
            outcome = self._outcome(steps[n], n, answer)
            aligned = {"first_try": outcomes[n].answer, "aligned_names": True, **outcome.answer}
            outcomes[n] = StepOutcome(
                outcome.status, aligned, outcome.survivor_id, outcome.manual_merge_url
            )
        return outcomes

    # -- undo ------------------------------------------------------------------------

    def _exact_entries(self, card: CrmContact, kind: str, target: list[str]) -> list[dict]:
        """crm.contact.update entries that leave exactly ``target`` on the card."""
        key = (lambda v: phone_key(v, region=self._region)) if kind == "PHONE" else email_key
        # A list, not a set of keys: a card may hold one number in two spellings.
        wanted = list(target)
        rows = [r for r in self._fm.get(card.id, []) if r.get("typeId") == kind]
        entries: list[dict[str, Any]] = []
        for row in sorted(rows, key=lambda r: r["value"] not in wanted):  # exact ones first
            value = row["value"] if row["value"] in wanted else None
            if value is None:
                value = next((v for v in wanted if key(v) == key(row["value"])), None)
            if value is None:
                entries.append({"ID": row["id"], "DELETE": "Y"})
                continue
            wanted.remove(value)
            if value != row["value"]:
                entries.append({"ID": row["id"], "VALUE": value, "VALUE_TYPE": row["valueType"]})
        return entries + [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in wanted]

    def _restore_commands(self, step: RestoreStep, n: int) -> dict[str, tuple[str, dict]]:
        values = step.set_fields
        fields: dict[str, Any] = {
            target: values[name] or "" for name, target in _NAMES.items() if name in values
        }
        for kind, name in (("PHONE", "phones"), ("EMAIL", "emails")):
            if name in values and (
                entries := self._exact_entries(step.survivor, kind, values[name])
            ):
                fields[kind] = entries
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        if fields:
            commands[f"u{n}"] = (
                "crm.contact.update",
                {"id": int(step.survivor.id), "fields": fields},
            )
        for loser in step.losers:
            card: dict[str, Any] = {
                target: getattr(loser, name) or "" for name, target in _NAMES.items()
            }
            card["PHONE"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in loser.phones]
            card["EMAIL"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in loser.emails]
            commands[f"c{n}_{loser.id}"] = ("crm.contact.add", {"fields": card})
        return commands

    def plan_restore(self, step: RestoreStep) -> list[PlannedRequest]:
        """The batch commands `restore` sends for ``step``."""
        self.fetch([step.survivor.id])  # the survivor's value rows, for their ids
        return [
            PlannedRequest("POST", method, params)
            for method, params in self._restore_commands(step, 0).values()
        ]

    def restore(self, steps: Sequence[RestoreStep]) -> list[RestoreOutcome]:
        """Write each survivor's values back and create its merged cards again, in one
        batch call: the survivor first, so that no number is on two cards."""
        self.fetch([step.survivor.id for step in steps])
        per_step = [self._restore_commands(step, n) for n, step in enumerate(steps)]
        commands = {key: command for step in per_step for key, command in step.items()}
        answer = self._batches(commands)
        outcomes = []
        for n, step in enumerate(steps):
            given = {k: answer["result"].get(k, answer["result_error"].get(k)) for k in per_step[n]}
            cards = {
                loser.id: str(answer["result"][key])
                for loser in step.losers
                if (key := f"c{n}_{loser.id}") in answer["result"]
            }
            failed = any(key in answer["result_error"] for key in per_step[n])
            notes = [
                f"contact {loser.id} was merged away (Bitrix24 merges are final): created "
                f"again as {cards.get(loser.id, '?')} with its names, phones and e-mails; "
                "the deals, activities and timeline the merge moved stay on the survivor"
                for loser in step.losers
            ]
            status = "failed" if failed else ("partly_restored" if notes else "restored")
            outcomes.append(RestoreOutcome(status, given, cards, tuple(notes)))
        return outcomes

    def close(self) -> None:
        """Close the HTTP client."""
        self._transport.close()
