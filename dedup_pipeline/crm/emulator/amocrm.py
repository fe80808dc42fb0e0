"""amoCRM (Kommo) REST API v4 for contacts, as docs/notes/crm_protocols.md records it: the
contact list and card, batch and single PATCH, lead-side links, and the web app's
undocumented bulk delete.

Answers are ``application/hal+json``; errors ``application/problem+json``; an empty
result is 204 with no body. A contact's phones and e-mails are the multitext custom
fields ``PHONE`` and ``EMAIL`` (every value ``enum_code`` ``WORK`` on the way out);
its tags get ids on first sight, as amoCRM numbers tags per entity type; its leads are
the state's deals. v4 cannot delete a contact (any DELETE answers 405): the ajax
endpoint moves contacts to `AmoCrmEmulator.trash`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dedup_pipeline.crm.emulator.app import Bucket, CrmEmulator, json_response, read_json
from dedup_pipeline.crm.emulator.state import CrmState, EmulatedContact

__all__ = ["AmoCrmEmulator", "AmoError", "TagRegistry", "contact_json", "contact_updates"]

CONTACTS = "/api/v4/contacts"
LEADS = "/api/v4/leads"
AJAX_DELETE = "/ajax/contacts/multiple/delete/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
MAX_WRITE = 250
HAL = "application/hal+json"
PROBLEM = "application/problem+json"
ACCOUNT_ID = 28805383
USER_ID = 504141

#: The multitext fields the emulator keeps: code -> (field id, name, WORK enum id, state field).
MULTITEXT: dict[str, tuple[int, str, int, str]] = {
    "PHONE": (264911, "Телефон", 404911, "phones"),
    "EMAIL": (264913, "Email", 404923, "emails"),
}
_FIELD_IDS = {spec[0]: code for code, spec in MULTITEXT.items()}
_TIME_FILTERS = ("updated_at", "created_at")
_ORDERS = ("updated_at", "id")


class AmoError(Exception):
    """An error answer in amoCRM's problem+json envelope."""

    def __init__(
        self, status: int, detail: str, validation: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.validation = validation

    def response(self) -> Response:
        payload: dict[str, Any] = {}
        if self.validation:
            payload["validation-errors"] = self.validation
        payload.update(
            title=HTTPStatus(self.status).phrase,
            type=f"https://httpstatus.es/{self.status}",
            status=self.status,
            detail=self.detail,
        )
        return json_response(payload, self.status, media_type=PROBLEM)


def _as_int(value: Any) -> int | None:
    """An id from JSON (a number, or digits as text); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _invalid(detail: str) -> AmoError:
    return AmoError(400, detail)


def _error(code: str, path: str, detail: str) -> dict[str, str]:
    return {"code": code, "path": path, "detail": detail}


def _validation_failed(problems: dict[str, list[dict[str, str]]]) -> AmoError:
    """400 with ``validation-errors``, one entry per request item (``request_id``)."""
    entries = [{"request_id": rid, "errors": errors} for rid, errors in problems.items()]
    return AmoError(400, "Request validation failed", entries)


# -- values -------------------------------------------------------------------------------


class TagRegistry:
    """Contact tags and their ids (given on first sight, as ``POST /contacts/tags`` would)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def id_of(self, name: str) -> int:
        return self._ids.setdefault(name, 100_000 + len(self._ids) + 1)

    def name_of(self, tag_id: Any) -> str | None:
        return next((name for name, i in self._ids.items() if str(i) == str(tag_id)), None)


def _unix(value: datetime) -> int:
    return int(value.timestamp())


def _href(base: str, path: str, query: str = "") -> dict[str, str]:
    return {"href": f"{base}{path}" + (f"?{query}" if query else "")}


def _full_name(first: str | None, last: str | None) -> str:
    """amoCRM's ``name``: first and last name joined."""
    return " ".join(part for part in (first, last) if part)


def _custom_fields(contact: EmulatedContact) -> list[dict[str, Any]] | None:
    fields = []
    for code, (field_id, name, enum_id, attribute) in MULTITEXT.items():
        values = getattr(contact, attribute)
        if values:
            fields.append(
                {
                    "field_id": field_id,
                    "field_name": name,
                    "field_code": code,
                    "field_type": "multitext",
                    "values": [
                        {"value": v, "enum_id": enum_id, "enum_code": "WORK"} for v in values
                    ],
                }
            )
    return fields or None


def contact_json(
    contact: EmulatedContact, *, base: str, tags: TagRegistry, leads: list[int] | None
) -> dict[str, Any]:
    """A contact as ``GET /api/v4/contacts`` shows it (``leads`` embedded when not None)."""
    embedded: dict[str, Any] = {
        "tags": [{"id": tags.id_of(t), "name": t, "color": None} for t in contact.tags],
        "companies": [],
    }
    if leads is not None:
        embedded["leads"] = [
            {"id": lead, "_links": {"self": _href(base, f"{LEADS}/{lead}")}} for lead in leads
        ]
    return {
        "id": contact.id,
        "name": _full_name(contact.first_name, contact.last_name),
        "first_name": contact.first_name or "",
        "last_name": contact.last_name or "",
        "responsible_user_id": USER_ID,
        "group_id": 0,
        "created_by": USER_ID,
        "updated_by": USER_ID,
        "created_at": _unix(contact.created_at),
        "updated_at": _unix(contact.updated_at),
        "closest_task_at": None,
        "is_deleted": False,
        "custom_fields_values": _custom_fields(contact),
        "account_id": ACCOUNT_ID,
        "_links": {"self": _href(base, f"{CONTACTS}/{contact.id}")},
        "_embedded": embedded,
    }


def _text(value: Any, path: str, errors: list[dict[str, str]]) -> str | None:
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    errors.append(_error("InvalidType", path, "This value should be of type string."))
    return None


def _multitext(entries: Any, errors: list[dict[str, str]]) -> dict[str, tuple[str, ...]]:
    """``custom_fields_values`` as state lists: each PHONE / EMAIL entry replaces them."""
    if not isinstance(entries, list):
        errors.append(_error("InvalidType", "custom_fields_values", "This value should be a list."))
        return {}
    lists: dict[str, tuple[str, ...]] = {}
    for n, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        code = entry.get("field_code") or _FIELD_IDS.get(_as_int(entry.get("field_id")) or 0)
        if code not in MULTITEXT:
            path = f"custom_fields_values.{n}.field_id"
            errors.append(
                _error("NotSupportedChoice", path, "The value you selected is not a valid choice.")
            )
            continue
        values = entry.get("values") or []
        texts = [v.get("value") if isinstance(v, dict) else None for v in values]
        if not all(isinstance(t, str) for t in texts):
            path = f"custom_fields_values.{n}.values"
            errors.append(_error("InvalidType", path, "Each value needs a string 'value'."))
            continue
        lists[MULTITEXT[code][3]] = tuple(dict.fromkeys(t.strip() for t in texts if t.strip()))
    return lists


def _tag_names(
    entries: Any, path: str, tags: TagRegistry, errors: list[dict[str, str]]
) -> list[str]:
    """Tag references (``{"id"}`` or ``{"name"}``) as names; unknown ids are errors."""
    if not isinstance(entries, list):
        errors.append(_error("InvalidType", path, "This value should be a list."))
        return []
    names = []
    for n, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        if name is None and "id" in entry:
            name = tags.name_of(entry["id"])
        if not name or not name.strip():
            errors.append(_error("NotFound", f"{path}.{n}", "Tag not found."))
            continue
        names.append(name.strip())
    return names


def contact_updates(
    contact: EmulatedContact, item: dict[str, Any], tags: TagRegistry
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The `CrmState.update_contact` fields a PATCH item sets on ``contact``, and the
    validation errors (``path`` / ``code`` / ``detail``) it raises.

    ``name`` without ``first_name`` and ``last_name`` is split at its first space (the
    state keeps no separate full name). Tags change as amoCRM applies them: ``_embedded.tags``
    replaces the set (``null`` clears it), then ``tags_to_delete``, then ``tags_to_add``.
    """
    errors: list[dict[str, str]] = []
    updates: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if name in item:
            updates[name] = _text(item[name], name, errors)
    if "name" in item and not updates:
        first, _, last = (_text(item["name"], "name", errors) or "").partition(" ")
        updates.update(first_name=first or None, last_name=last.strip() or None)
    if "custom_fields_values" in item:
        updates.update(_multitext(item["custom_fields_values"], errors))
    tag_set = list(contact.tags)
    embedded = item.get("_embedded")
    if isinstance(embedded, dict) and "tags" in embedded:
        replaced = embedded["tags"]
        tag_set = [] if replaced is None else _tag_names(replaced, "_embedded.tags", tags, errors)
    if "tags_to_delete" in item:
        dropped = set(_tag_names(item["tags_to_delete"], "tags_to_delete", tags, errors))
        tag_set = [t for t in tag_set if t not in dropped]
    if "tags_to_add" in item:
        tag_set += _tag_names(item["tags_to_add"], "tags_to_add", tags, errors)
    if tag_set != list(contact.tags):
        updates["tags"] = tuple(dict.fromkeys(tag_set))
    for tag in updates.get("tags", ()):
        tags.id_of(tag)
    return updates, errors


# -- the list -------------------------------------------------------------------------------


def _int_param(value: str | None, name: str, *, default: int, maximum: int | None = None) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(f"{name} must be an integer, got {value!r}") from None
    if number < 1 or (maximum is not None and number > maximum):
        bound = f"between 1 and {maximum}" if maximum else "at least 1"
        raise _invalid(f"{name} must be {bound}, got {number}")
    return number


def _withs(request: Request) -> set[str]:
    return {
        part.strip()
        for value in request.query_params.getlist("with")
        for part in value.split(",")
        if part.strip()
    }


def _list_filter(request: Request) -> Callable[[EmulatedContact], bool]:
    """``filter[id][]`` and ``filter[updated_at|created_at][from|to]`` as a predicate."""
    params = request.query_params
    raw_ids = [*params.getlist("filter[id][]"), *params.getlist("filter[id]")]
    try:
        ids = {int(part) for value in raw_ids for part in value.split(",") if part.strip()}
        bounds = {
            (name, edge): int(params[f"filter[{name}][{edge}]"])
            for name in _TIME_FILTERS
            for edge in ("from", "to")
            if f"filter[{name}][{edge}]" in params
        }
    except ValueError:
        raise _invalid("filter values must be integers (ids, unix seconds)") from None

    def passes(contact: EmulatedContact) -> bool:
        if raw_ids and contact.id not in ids:
            return False
        for (name, edge), bound in bounds.items():
            stamp = _unix(getattr(contact, name))
            if (edge == "from" and stamp < bound) or (edge == "to" and stamp > bound):
                return False
        return True

    return passes


def _ordered(request: Request, contacts: Iterable[EmulatedContact]) -> list[EmulatedContact]:
    """``order[updated_at]`` or ``order[id]`` (asc|desc); by id ascending by default."""
    field, direction = "id", "asc"
    for name in _ORDERS:
        if (value := request.query_params.get(f"order[{name}]")) is not None:
            field, direction = name, value.lower()
            break
    if direction not in ("asc", "desc"):
        raise _invalid(f"order must be asc or desc, got {direction!r}")

    def key(contact: EmulatedContact) -> tuple[int, int]:
        return (_unix(contact.updated_at) if field == "updated_at" else contact.id, contact.id)

    return sorted(contacts, key=key, reverse=direction == "desc")


def _page_query(request: Request, page: int, limit: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "limit")]
    return urlencode([*kept, ("page", page), ("limit", limit)])


# -- the emulator ----------------------------------------------------------------------------


class AmoCrmEmulator(CrmEmulator):
    """An amoCRM account whose API accepts the long-lived token ``token``.

    Attributes
    ----------
    trash
        Contacts the ajax endpoint deleted, by id (amoCRM's trash: a soft delete).
    tags
        The contact tags and their ids.
    """

    kind = "amocrm"
    # Kommo docs/limitations: at most 7 requests a second.
    default_bucket = Bucket(capacity=7, drain_per_second=7)

    def __init__(self, state: CrmState | None = None, **options: Any) -> None:
        super().__init__(state, **options)
        self.trash: dict[int, EmulatedContact] = {}
        self.tags = TagRegistry()
        for contact in self.state.contacts.values():
            for tag in contact.tags:
                self.tags.id_of(tag)

    def reset_account(self) -> None:
        self.trash.clear()

    # -- the HTTP side ---------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        guarded = _answering_errors
        return [
            Route(CONTACTS, guarded(self._list), methods=["GET"]),
            Route(CONTACTS, guarded(self._patch_many), methods=["PATCH"]),
            Route(CONTACTS, guarded(self._add), methods=["POST"]),
            Route(CONTACTS + "/notes", guarded(self._add_notes), methods=["POST"]),
            Route(CONTACTS + "/notes", guarded(self._list_notes), methods=["GET"]),
            Route(CONTACTS + "/{id:int}", guarded(self._get_one), methods=["GET"]),
            Route(CONTACTS + "/{id:int}", guarded(self._patch_one), methods=["PATCH"]),
            Route(CONTACTS + "{rest:path}", guarded(self._no_delete), methods=["DELETE"]),
            Route(LEADS + "/link", guarded(self._link), methods=["POST"]),
            Route(LEADS + "/unlink", guarded(self._unlink), methods=["POST"]),
            Route(LEADS + "/{id:int}/link", guarded(self._link), methods=["POST"]),
            Route(LEADS + "/{id:int}/unlink", guarded(self._unlink), methods=["POST"]),
            Route(AJAX_DELETE, self._ajax_delete, methods=["POST"]),
        ]

    def unauthorized(self) -> Response:
        return AmoError(401, "Unauthorized").response()

    def rate_limited(self) -> Response:
        return AmoError(429, "Too many requests").response()

    # -- contacts --------------------------------------------------------------------

    def _leads_of(self, contact_id: int) -> list[int]:
        return [deal.id for deal in self.state.deals_of(contact_id)]

    def _json(self, contact: EmulatedContact, base: str, with_leads: bool) -> dict[str, Any]:
        leads = self._leads_of(contact.id) if with_leads else None
        return contact_json(contact, base=base, tags=self.tags, leads=leads)

    async def _list(self, request: Request) -> Response:
        params = request.query_params
        limit = _int_param(params.get("limit"), "limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        page = _int_param(params.get("page"), "page", default=1)
        passes = _list_filter(request)
        matched = _ordered(request, (c for c in self.state.contacts.values() if passes(c)))
        shown = matched[(page - 1) * limit : page * limit]
        if not shown:
            return Response(status_code=204)
        base, with_leads = _base(request), "leads" in _withs(request)
        links = {"self": _href(base, CONTACTS, _page_query(request, page, limit))}
        if page * limit < len(matched):
            links["next"] = _href(base, CONTACTS, _page_query(request, page + 1, limit))
        if page > 1:
            links["prev"] = _href(base, CONTACTS, _page_query(request, page - 1, limit))
        contacts = [self._json(c, base, with_leads) for c in shown]
        payload = {"_page": page, "_links": links, "_embedded": {"contacts": contacts}}
        return json_response(payload, media_type=HAL)

    async def _get_one(self, request: Request) -> Response:
        contact = self.state.contacts.get(request.path_params["id"])
        if contact is None:
            return Response(status_code=204)
        payload = self._json(contact, _base(request), "leads" in _withs(request))
        return json_response(payload, media_type=HAL)

    async def _patch_many(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, list) or not body:
            raise _invalid("the body must be a non-empty array of contacts")
        if len(body) > MAX_WRITE:
            raise _invalid(f"at most {MAX_WRITE} contacts per request, got {len(body)}")
        base = _base(request)
        updated = self._update(body)
        contacts = [_written(c, base, rid) for rid, c in updated]
        payload = {"_links": {"self": _href(base, CONTACTS)}, "_embedded": {"contacts": contacts}}
        return json_response(payload, media_type=HAL)

    async def _patch_one(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise _invalid("the body must be a contact object")
        [(_, contact)] = self._update([{**body, "id": request.path_params["id"]}])
        payload = _written(contact, _base(request), None)
        return json_response(payload, media_type=HAL)

    async def _add(self, request: Request) -> Response:
        """``POST /api/v4/contacts``: create contacts (an array, 50 at most); each answer
        item carries the new ``id`` and the item's ``request_id`` (its index if none)."""
        body = await read_json(request)
        if not isinstance(body, list) or not body:
            raise _invalid("the body must be a non-empty array of contacts")
        if len(body) > MAX_WRITE:
            raise _invalid(f"at most {MAX_WRITE} contacts per request, got {len(body)}")
        planned, problems = [], {}
        blank = EmulatedContact(id=0)
        for n, item in enumerate(body):
            item = item if isinstance(item, dict) else {}
            rid = str(item.get("request_id", n))
            if "id" in item:
                problems[rid] = [_error("InvalidField", "id", "A new contact has no id.")]
                continue
            updates, errors = contact_updates(blank, item, self.tags)
            if errors:
                problems[rid] = errors
            planned.append((rid, updates))
        if problems:
            raise _validation_failed(problems)
        base = _base(request)
        contacts = [_written(self.state.add_contact(**u), base, rid) for rid, u in planned]
        payload = {"_links": {"self": _href(base, CONTACTS)}, "_embedded": {"contacts": contacts}}
        return json_response(payload, media_type=HAL)

    async def _list_notes(self, request: Request) -> Response:
        """``GET /api/v4/contacts/notes?filter[entity_id][]=...``: their notes (204 if none)."""
        wanted = {
            int(v) for v in request.query_params.getlist("filter[entity_id][]") if v.isdigit()
        }
        notes = [
            {"id": note_id, "entity_id": owner, "note_type": "common", "params": {"text": text}}
            for note_id, (owner, text) in self.state.notes.items()
            if not wanted or owner in wanted
        ]
        if not notes:
            return Response(status_code=204)
        base = _base(request)
        payload = {
            "_links": {"self": _href(base, CONTACTS + "/notes")},
            "_embedded": {"notes": notes},
        }
        return json_response(payload, media_type=HAL)

    async def _add_notes(self, request: Request) -> Response:
        """``POST /api/v4/contacts/notes``: ``common`` notes (``params.text``) on contacts."""
        body = await read_json(request)
        if not isinstance(body, list) or not body:
            raise _invalid("the body must be a non-empty array of notes")
        planned, problems = [], {}
        for n, item in enumerate(body):
            item = item if isinstance(item, dict) else {}
            rid = str(item.get("request_id", n))
            contact = _as_int(item.get("entity_id"))
            text = (item.get("params") or {}).get("text")
            errors = []
            if contact not in self.state.contacts:
                errors.append(_error("NotFound", "entity_id", "Contact not found."))
            if item.get("note_type") != "common":
                errors.append(_error("NotSupportedChoice", "note_type", "Only common notes here."))
            if not isinstance(text, str) or not text.strip():
                errors.append(_error("NotBlank", "params.text", "This value should not be blank."))
            if errors:
                problems[rid] = errors
            else:
                planned.append((rid, contact, text.strip()))
        if problems:
            raise _validation_failed(problems)
        base = _base(request)
        notes = [
            {"id": self.state.add_note(contact, text), "entity_id": contact, "request_id": rid}
            for rid, contact, text in planned
        ]
        payload = {
            "_links": {"self": _href(base, CONTACTS + "/notes")},
            "_embedded": {"notes": notes},
        }
        return json_response(payload, media_type=HAL)

    def _update(self, items: list[Any]) -> list[tuple[str, EmulatedContact]]:
        """Validate every item, then apply them all (nothing changes when one is invalid)."""
        planned: list[tuple[str, int, dict[str, Any]]] = []
        problems: dict[str, list[dict[str, str]]] = {}
        pending: dict[int, EmulatedContact] = {}  # a contact named twice: as the first left it
        for n, item in enumerate(items):
            item = item if isinstance(item, dict) else {}
            rid = str(item.get("request_id", n))
            contact_id = _as_int(item.get("id")) or 0
            contact = pending.get(contact_id) or self.state.contacts.get(contact_id)
            if contact is None:
                problems[rid] = [_error("NotFound", "id", "Contact not found.")]
                continue
            updates, errors = contact_updates(contact, item, self.tags)
            if errors:
                problems[rid] = errors
            pending[contact.id] = replace(contact, **updates)
            planned.append((rid, contact.id, updates))
        if problems:
            raise _validation_failed(problems)
        return [(rid, self.state.update_contact(cid, **updates)) for rid, cid, updates in planned]

    async def _no_delete(self, request: Request) -> Response:
        raise AmoError(405, "Method DELETE is not supported: the API cannot delete contacts")

    # -- links -----------------------------------------------------------------------

    def _link_items(self, request: Request, body: Any) -> list[tuple[int, int, dict[str, Any]]]:
        """(lead id, contact id, metadata) per item; a lead from the path or ``entity_id``."""
        if not isinstance(body, list) or not body:
            raise _invalid("the body must be a non-empty array of links")
        path_lead = request.path_params.get("id")
        items, problems = [], {}
        for n, item in enumerate(body):
            item = item if isinstance(item, dict) else {}
            lead = path_lead or _as_int(item.get("entity_id"))
            contact = _as_int(item.get("to_entity_id"))
            errors = []
            if lead not in self.state.deals:
                errors.append(_error("NotFound", "entity_id", "Lead not found."))
            if item.get("to_entity_type") != "contacts":
                errors.append(
                    _error("NotSupportedChoice", "to_entity_type", "Leads link to contacts here.")
                )
            elif contact not in self.state.contacts:
                errors.append(_error("NotFound", "to_entity_id", "Contact not found."))
            if errors:
                problems[str(n)] = errors
            else:
                assert lead is not None and contact is not None
                metadata = item.get("metadata")
                items.append((lead, contact, metadata if isinstance(metadata, dict) else {}))
        if problems:
            raise _validation_failed(problems)
        return items

    async def _link(self, request: Request) -> Response:
        items = self._link_items(request, await read_json(request))
        links = [self._link_one(lead, contact, metadata) for lead, contact, metadata in items]
        lead = request.path_params.get("id")
        path = f"{LEADS}/{lead}/links" if lead else f"{LEADS}/links"
        payload = {
            "_total_items": len(links),
            "_links": {"self": _href(_base(request), path)},
            "_embedded": {"links": links},
        }
        return json_response(payload, media_type=HAL)

    def _link_one(self, lead: int, contact: int, metadata: dict[str, Any]) -> dict[str, Any]:
        """Link a lead to a contact; ``is_main`` makes the contact the lead's first."""
        self.state.link_deal(lead, contact)
        if metadata.get("is_main"):
            for other in [c for c in self.state.deals[lead].contact_ids if c != contact]:
                self.state.unlink_deal(lead, other)
                self.state.link_deal(lead, other)
        main = self.state.deals[lead].contact_ids[0] == contact
        return {
            "entity_id": lead,
            "entity_type": "leads",
            "to_entity_id": contact,
            "to_entity_type": "contacts",
            "metadata": {"main_contact": main},
        }

    async def _unlink(self, request: Request) -> Response:
        for lead, contact, _ in self._link_items(request, await read_json(request)):
            self.state.unlink_deal(lead, contact)
        return Response(status_code=204)

    # -- the web app's delete --------------------------------------------------------

    async def _ajax_delete(self, request: Request) -> Response:
        """Soft-delete contacts (``ID[]`` in the form body or, as PHP's ``$_REQUEST``
        reads it, the query string); all or nothing. ``X-Requested-With`` is not
        checked (what the web app does without it is not known)."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        query = parse_qs(request.url.query)
        raw = [*form.get("ID[]", []), *form.get("ID", []), *query.get("ID[]", [])]
        ids = [int(value) for value in raw if value.strip().isdigit()]
        missing = [i for i in ids if i not in self.state.contacts]
        if not ids or missing or len(ids) != len(raw):
            errors = [f"Недостаточно прав для удаления контакта {i}" for i in missing]
            return json_response({"status": "fail", "errors": errors or ["Нет ID для удаления"]})
        for contact_id in dict.fromkeys(ids):
            self.trash[contact_id] = self.state.contacts.pop(contact_id)
        return json_response({"status": "success"})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _written(contact: EmulatedContact, base: str, request_id: str | None) -> dict[str, Any]:
    """A contact as a PATCH answers it."""
    written: dict[str, Any] = {
        "id": contact.id,
        "name": _full_name(contact.first_name, contact.last_name),
        "updated_at": _unix(contact.updated_at),
    }
    if request_id is not None:
        written["request_id"] = request_id
    written["_links"] = {"self": _href(base, f"{CONTACTS}/{contact.id}")}
    return written


def _answering_errors(
    endpoint: Callable[[Request], Any],
) -> Callable[[Request], Any]:
    """The endpoint with `AmoError` answered as problem+json."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except AmoError as error:
            return error.response()

    return run
