"""Bitrix24's REST protocol over an inbound webhook, as docs/notes/crm_protocols.md
records it: ``crm.item.list`` / ``crm.item.update`` for contacts (entityTypeId 3),
``crm.contact.update`` for phones and e-mails, ``crm.entity.mergeBatch`` and ``batch``.

Every method is served at ``/rest/<user id>/<secret>/<method>`` (``.json`` suffix and
trailing slash optional), with parameters as JSON, a form or a PHP-style query string.
Contacts carry names, phones and e-mails; companies and addresses are separate records in
Bitrix24 and are not emulated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dedup_pipeline.crm.emulator.app import Bucket, CrmEmulator, Scope, json_response
from dedup_pipeline.crm.emulator.state import CrmState, EmulatedContact, MergeOutcome
from dedup_pipeline.crm.phpquery import parse_query

__all__ = ["Bitrix24Emulator", "Bitrix24Error"]

PAGE_SIZE = 50
MAX_BATCH = 50
CONTACT = 3
_PATH = re.compile(r"^/rest/(\d+)/([^/]+)/([A-Za-z0-9_.]+?)(?:\.json)?/?$")
# crm.item field name -> emulated contact field
_ITEM_FIELDS = {"name": "first_name", "secondName": "middle_name", "lastName": "last_name"}
# crm.contact field name -> emulated contact field
_CONTACT_FIELDS = {"NAME": "first_name", "SECOND_NAME": "middle_name", "LAST_NAME": "last_name"}
_MULTI = {"PHONE": "phones", "EMAIL": "emails"}


class Bitrix24Error(Exception):
    """A method error: Bitrix24's ``{"error", "error_description"}`` envelope."""

    def __init__(self, code: str | int, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status

    def envelope(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _parse_stamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise Bitrix24Error(
            "INVALID_ARG_VALUE", f"cannot read {value!r} as a date and time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time_block(started: float) -> dict[str, Any]:
    finished = time.time()
    return {"start": started, "finish": finished, "duration": finished - started}


class Bitrix24Emulator(CrmEmulator):
    """A Bitrix24 portal with one inbound webhook whose secret is ``token``."""

    kind = "bitrix24"
    # Most plans: the counter drains 2 requests/s and blocks above 50 (limits.md).
    default_bucket = Bucket(capacity=50, drain_per_second=2)

    def __init__(self, state: CrmState | None = None, **options: Any) -> None:
        super().__init__(state, **options)
        # Multi-field values get ids on first sight, as Bitrix24 numbers its fm rows.
        self._value_ids: dict[tuple[int, str, str], int] = {}
        self._next_value_id = 1
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "crm.item.list": self._item_list,
            "crm.item.get": self._item_get,
            "crm.item.update": self._item_update,
            "crm.contact.add": self._contact_add,
            "crm.timeline.comment.add": self._comment_add,
            "crm.timeline.comment.list": self._comment_list,
            "crm.contact.update": self._contact_update,
            "crm.entity.mergeBatch": self._merge_batch,
        }

    def reset_account(self) -> None:
        self._value_ids.clear()

    # -- the HTTP side ---------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]

    def authorized(self, scope: Scope) -> bool:
        match = _PATH.match(scope["path"])
        return match is None or match.group(2) == self.token  # unknown paths answer 404

    def unauthorized(self) -> Response:
        return json_response(
            {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"},
            401,
        )

    def rate_limited(self) -> Response:
        return json_response(
            {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503
        )

    async def _endpoint(self, request: Request) -> Response:
        match = _PATH.match(request.url.path)
        if match is None:
            return json_response({"error": "NOT_FOUND", "error_description": "Not found"}, 404)
        params: dict[str, Any] = parse_query(request.url.query)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if "json" in content_type:
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                form = (await request.body()).decode()
                params.update(parse_query(form))
        started = time.time()
        try:
            payload = self.call(match.group(3), params)
        except Bitrix24Error as error:
            return json_response(error.envelope(), error.status)
        return json_response({**payload, "time": _time_block(started)})

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one method; the payload without ``time``. Raises `Bitrix24Error`."""
        if method == "batch":
            return {"result": self._batch(params)}
        handler = self._methods.get(method)
        if handler is None:
            raise Bitrix24Error("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return handler(params)

    # -- methods -----------------------------------------------------------------------

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        commands = params.get("cmd") or {}
        if not isinstance(commands, dict):
            raise Bitrix24Error("INVALID_ARG_VALUE", "cmd must be an object")
        halt = str(params.get("halt", "0")).lower() in {"1", "true", "y"}
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        for position, (key, command) in enumerate(commands.items()):
            if position >= MAX_BATCH:
                errors[key] = {
                    "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                    "error_description": "Max batch length exceeded",
                }
                continue
            method, _, query = str(command).partition("?")
            if method == "batch":
                errors[key] = {
                    "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "error_description": "Method is not allowed for batch usage",
                }
                continue
            try:
                payload = self.call(method, parse_query(query))
            except Bitrix24Error as error:
                errors[key] = error.envelope()
                if halt:
                    break
                continue
            results[key] = payload["result"]
            if "total" in payload:
                totals[key] = payload["total"]
            if "next" in payload:
                nexts[key] = payload["next"]
        # PHP serialises an empty map as [].
        return {
            "result": results or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
        }

    def _entity_type(self, params: dict[str, Any]) -> None:
        if "entityTypeId" not in params:
            raise Bitrix24Error("INVALID_ARG_VALUE", "The parameter entityTypeId is required.")
        if int(params["entityTypeId"]) != CONTACT:
            raise Bitrix24Error("NOT_FOUND", "Smart process not found")  # only contacts here

    def _item_list(self, params: dict[str, Any]) -> dict[str, Any]:
        self._entity_type(params)
        select = params.get("select") or ["*"]
        with_fm = select == ["*"] or "*" in select
        contacts = [c for c in self.state.contacts.values() if _passes(c, params.get("filter"))]
        contacts.sort(key=_order_key(params.get("order")))
        start = int(params.get("start", 0))
        page = contacts[max(start, 0) : max(start, 0) + PAGE_SIZE]
        payload: dict[str, Any] = {
            "result": {"items": [self._item(c, with_fm=with_fm, select=select) for c in page]}
        }
        if start >= 0:  # start=-1 skips counting, as on a real portal
            payload["total"] = len(contacts)
            if start + len(page) < len(contacts):
                payload["next"] = start + len(page)
        return payload

    def _item_get(self, params: dict[str, Any]) -> dict[str, Any]:
        self._entity_type(params)
        contact = self._contact(params.get("id"))
        return {"result": {"item": self._item(contact, with_fm=True, select=["*"])}}

    def _item_update(self, params: dict[str, Any]) -> dict[str, Any]:
        self._entity_type(params)
        contact = self._contact(params.get("id"))
        fields = params.get("fields") or {}
        if "id" in fields:
            raise Bitrix24Error("100", "Setting value for Primary ID is not allowed")
        values = {_ITEM_FIELDS[k]: v or None for k, v in fields.items() if k in _ITEM_FIELDS}
        for entry in _entries(fields.get("fm")):
            # crm.item.update may only add multi-field values (object-fields.md §fm).
            name = _MULTI.get(str(entry.get("typeId", "")).upper())
            if name and entry.get("value"):
                current = values.get(name, getattr(contact, name))
                values[name] = (*current, str(entry["value"]))
        if values:
            contact = self.state.update_contact(contact.id, **values)
        return {"result": {"item": self._item(contact, with_fm=True, select=["*"])}}

    def _contact_update(self, params: dict[str, Any]) -> dict[str, Any]:
        contact = self._contact(params.get("id"), message="Contact is not found")
        fields = params.get("fields") or {}
        values: dict[str, Any] = {
            _CONTACT_FIELDS[k]: v or None for k, v in fields.items() if k in _CONTACT_FIELDS
        }
        for field_name, attribute in _MULTI.items():
            if field_name in fields:
                values[attribute] = self._edited_values(
                    contact, field_name, _entries(fields[field_name])
                )
        if values:
            self.state.update_contact(contact.id, **values)
        return {"result": True}

    def _contact_add(self, params: dict[str, Any]) -> dict[str, Any]:
        """Create a contact; ``result`` is its new id (an integer, as Bitrix24 answers)."""
        fields = params.get("fields") or {}
        if not isinstance(fields, dict):
            raise Bitrix24Error(0, "Parameter 'fields' must be array.")
        values: dict[str, Any] = {
            _CONTACT_FIELDS[k]: v or None for k, v in fields.items() if k in _CONTACT_FIELDS
        }
        for field_name, attribute in _MULTI.items():
            entries = _entries(fields.get(field_name))
            texts = (str(e.get("VALUE") or "").strip() for e in entries)
            values[attribute] = tuple(dict.fromkeys(t for t in texts if t))
        return {"result": self.state.add_contact(**values).id}

    def _comment_add(self, params: dict[str, Any]) -> dict[str, Any]:
        """A comment in a contact's timeline (``fields``: ENTITY_ID, ENTITY_TYPE, COMMENT)."""
        fields = params.get("fields") or {}
        if not isinstance(fields, dict) or "ENTITY_ID" not in fields:
            raise Bitrix24Error(0, "ENTITY_ID is not defined or invalid.")
        if str(fields.get("ENTITY_TYPE", "")).lower() != "contact":
            raise Bitrix24Error(0, "ENTITY_TYPE is not defined or invalid.")
        contact = self._contact(fields["ENTITY_ID"], message="Contact is not found")
        text = str(fields.get("COMMENT") or "").strip()
        if not text:
            raise Bitrix24Error(0, "COMMENT is empty.")
        return {"result": self.state.add_note(contact.id, text)}

    def _comment_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """A contact's timeline comments (``filter``: ENTITY_ID, ENTITY_TYPE)."""
        conditions = params.get("filter") or {}
        if "ENTITY_ID" not in conditions or "ENTITY_TYPE" not in conditions:
            raise Bitrix24Error(0, "ENTITY_ID and ENTITY_TYPE are required in filter.")
        contact = self._contact(conditions["ENTITY_ID"], message="Contact is not found")
        comments = [
            {"ID": str(note_id), "ENTITY_ID": str(contact.id), "COMMENT": text}
            for note_id, (owner, text) in self.state.notes.items()
            if owner == contact.id
        ]
        return {"result": comments, "total": len(comments)}

    def _merge_batch(self, params: dict[str, Any]) -> dict[str, Any]:
        inner = params.get("params") or {}
        if "entityTypeId" not in inner:
            raise Bitrix24Error(0, "The parameter entityTypeId is required.")
        if int(inner["entityTypeId"]) != CONTACT:
            raise Bitrix24Error(0, "Owner was not found")
        try:
            requested = [int(i) for i in inner.get("entityIds") or []]
        except ValueError:
            raise Bitrix24Error(
                0, "The parameter entityIds does not contains valid elements."
            ) from None
        # Ids that do not exist are dropped before merging (filterExistsItems).
        existing = [i for i in dict.fromkeys(requested) if i in self.state.contacts]
        if len(existing) < 2:
            raise Bitrix24Error(0, "The parameter entityIds must contains at least two elements.")
        if requested[0] not in self.state.contacts:
            return {"result": {"STATUS": MergeOutcome.NOT_FOUND.value, "ENTITY_IDS": existing}}
        outcome = self.state.merge(existing, strict=True)
        return {"result": {"STATUS": outcome.value, "ENTITY_IDS": existing[1:]}}

    # -- translation ---------------------------------------------------------------------

    def _contact(self, value: Any, *, message: str = "Element not found") -> EmulatedContact:
        try:
            return self.state.contacts[int(value)]
        except (KeyError, TypeError, ValueError):
            raise Bitrix24Error("NOT_FOUND", message) from None

    def _value_id(self, contact_id: int, kind: str, value: str) -> int:
        key = (contact_id, kind, value)
        if key not in self._value_ids:
            self._value_ids[key] = self._next_value_id
            self._next_value_id += 1
        return self._value_ids[key]

    def _fm(self, contact: EmulatedContact) -> list[dict[str, Any]]:
        return [
            {
                "id": self._value_id(contact.id, kind, value),
                "typeId": kind,
                "valueType": "WORK",
                "value": value,
            }
            for kind, attribute in _MULTI.items()
            for value in getattr(contact, attribute)
        ]

    def _item(self, contact: EmulatedContact, *, with_fm: bool, select: list[str]) -> dict:
        item: dict[str, Any] = {
            "id": contact.id,
            "name": contact.first_name,
            "secondName": contact.middle_name,
            "lastName": contact.last_name,
            "createdTime": _stamp(contact.created_at),
            "updatedTime": _stamp(contact.updated_at),
            "hasPhone": "Y" if contact.phones else "N",
            "hasEmail": "Y" if contact.emails else "N",
            "companyIds": [],
        }
        if with_fm:
            item["fm"] = self._fm(contact)
            item["entityTypeId"] = CONTACT
            return item
        return {key: value for key, value in item.items() if key in select or key == "id"}

    def _edited_values(
        self, contact: EmulatedContact, kind: str, entries: list[dict[str, Any]]
    ) -> tuple[str, ...]:
        """Apply crm.contact.update's multi-field entries: an ID with a VALUE updates that
        value, an ID with DELETE=Y or no VALUE deletes it, an entry without ID adds one."""
        current = {
            self._value_id(contact.id, kind, value): value
            for value in getattr(contact, _MULTI[kind])
        }
        added: list[str] = []
        for entry in entries:
            value = str(entry.get("VALUE") or "").strip()
            if "ID" not in entry:
                if value:
                    added.append(value)
                continue
            value_id = int(entry["ID"])
            if value_id not in current:
                continue
            if str(entry.get("DELETE", "")).upper() == "Y" or not value:
                del current[value_id]
            else:
                current[value_id] = value
                self._value_ids[(contact.id, kind, value)] = value_id
        return tuple(dict.fromkeys([*current.values(), *added]))


def _entries(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, dict)]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


_OPERATORS = (">=", "<=", "!@", ">", "<", "@", "!", "=")


def _passes(contact: EmulatedContact, conditions: Any) -> bool:
    if not conditions:
        return True
    for key, expected in dict(conditions).items():
        operator = next((op for op in _OPERATORS if key.startswith(op)), "=")
        name = key[len(operator) :] if key.startswith(operator) else key
        if name == "id":
            actual: Any = contact.id
            wanted: Any = [int(v) for v in expected] if operator in {"@", "!@"} else int(expected)
        elif name in {"updatedTime", "createdTime"}:
            actual = contact.updated_at if name == "updatedTime" else contact.created_at
            wanted = _parse_stamp(expected)
        else:
            raise Bitrix24Error("INVALID_ARG_VALUE", f"filter on {name!r} is not emulated")
        if not _compare(actual, operator, wanted):
            return False
    return True


def _compare(actual: Any, operator: str, wanted: Any) -> bool:
    match operator:
        case ">=":
            return actual >= wanted
        case "<=":
            return actual <= wanted
        case ">":
            return actual > wanted
        case "<":
            return actual < wanted
        case "@":
            return actual in wanted
        case "!@":
            return actual not in wanted
        case "!":
            return actual != wanted
        case _:
            return actual == wanted


def _order_key(order: Any) -> Callable[[EmulatedContact], tuple]:
    fields = list(dict(order or {"id": "ASC"}).items())

    def key(contact: EmulatedContact) -> tuple:
        parts: list[Any] = []
        for name, direction in fields:
            value = contact.updated_at.timestamp() if name == "updatedTime" else contact.id
            parts.append(-value if str(direction).upper() == "DESC" else value)
        return tuple(parts)

    return key
