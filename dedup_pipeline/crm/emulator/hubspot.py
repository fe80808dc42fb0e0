"""HubSpot's CRM API v3 for contacts, as docs/notes/crm_protocols.md records it: the list,
one contact, search, batch read and update, PATCH, merge, and the v4 batch read of deal
associations.

A contact's properties are a view over a `CrmState` contact: ``email`` is its first
e-mail and ``hs_additional_emails`` the others (``;``-joined); ``phone`` and
``mobilephone`` are its first two phones (a cleared ``phone`` lets ``mobilephone`` move
up, as the state keeps phones as a list). A merge keeps the primary's values and fills
its empty ones from the secondary; the secondary's id then redirects to the survivor,
and with ``new_ids_on_merge`` the survivor is a new record that both old ids redirect to.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dedup_pipeline.crm.emulator.app import Bucket, CrmEmulator, json_response, read_json
from dedup_pipeline.crm.emulator.state import SINGLE_VALUED_FIELDS, CrmState, EmulatedContact

__all__ = [
    "HubSpotEmulator",
    "HubSpotError",
    "contact_properties",
    "hubspot_stamp",
    "merged_fields",
    "property_updates",
]

CONTACTS = "/crm/v3/objects/contacts"
DEAL_ASSOCIATIONS = "/crm/v4/associations/contacts/deals/batch/read"
#: One contact's association with one deal (v4), and its type id (HUBSPOT_DEFINED).
DEAL_ASSOCIATION = "/crm/v4/objects/contacts/{contact_id}/associations/deals/{deal_id}"
CONTACT_TO_DEAL = 4
NOTES = "/crm/v3/objects/notes"
NOTE_ASSOCIATIONS = "/crm/v4/associations/contacts/notes/batch/read"
NOTE_TO_CONTACT = 202
LIST_LIMIT = 100
SEARCH_LIMIT = 200
BATCH_LIMIT = 100
ASSOCIATION_BATCH_LIMIT = 1000
SEARCH_CAP = 10_000
MERGE_LIMIT = 250
#: filterGroups, filters per group, filters in all.
FILTER_LIMITS = (5, 6, 18)

#: Contact property -> emulated contact field, for the single-valued ones.
NAMED_PROPERTIES = {
    "firstname": "first_name",
    "lastname": "last_name",
    "company": "company",
    "city": "city",
}
WRITABLE = (*NAMED_PROPERTIES, "email", "hs_additional_emails", "phone", "mobilephone")
READ_ONLY = ("createdate", "lastmodifieddate", "hs_object_id", "hs_merged_object_ids")
ALL_PROPERTIES = (*WRITABLE, *READ_ONLY)
DEFAULT_PROPERTIES = ("firstname", "lastname", "email")
ALWAYS_RETURNED = ("createdate", "lastmodifieddate", "hs_object_id")
_TIMES = {"createdate": "created_at", "lastmodifieddate": "updated_at"}
_ORDERED_OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HubSpotError(Exception):
    """An error answer in HubSpot's envelope (``status``, ``message``, ``correlationId``,
    ``category``, optional extras)."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def response(self) -> Response:
        return json_response(
            {
                "status": "error",
                "message": self.message,
                "correlationId": str(uuid.uuid4()),
                "category": self.category,
                **self.extra,
            },
            self.status,
        )


def _invalid(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **extra)


def _not_found(contact_id: Any) -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", f"resource not found: contact {contact_id}")


# -- values -------------------------------------------------------------------------------


def hubspot_stamp(value: datetime) -> str:
    """``2024-01-17T19:55:04.281Z``: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _floor_ms(value: datetime) -> int:
    """Epoch milliseconds, rounded down (how the ``...Z`` stamps compare)."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _when_ms(value: Any) -> int:
    """A filter's date value (epoch milliseconds or ISO 8601) in epoch milliseconds."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(
            f"{value!r} is not a valid date: use epoch milliseconds or ISO 8601"
        ) from None
    return _floor_ms(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _unique_emails(values: list[str]) -> tuple[str, ...]:
    kept: dict[str, str] = {}
    for value in values:
        if value and value.strip():
            kept.setdefault(value.strip().lower(), value.strip())
    return tuple(kept.values())


def contact_properties(
    contact: EmulatedContact, merged_ids: tuple[int, ...] = ()
) -> dict[str, str | None]:
    """Every property the emulator knows for ``contact`` (null when empty)."""
    phones, emails = contact.phones, contact.emails
    values: dict[str, str | None] = {
        name: getattr(contact, field) or None for name, field in NAMED_PROPERTIES.items()
    }
    values.update(
        email=emails[0] if emails else None,
        hs_additional_emails=";".join(emails[1:]) or None,
        phone=phones[0] if phones else None,
        mobilephone=phones[1] if len(phones) > 1 else None,
        createdate=hubspot_stamp(contact.created_at),
        lastmodifieddate=hubspot_stamp(contact.updated_at),
        hs_object_id=str(contact.id),
        hs_merged_object_ids=";".join(str(i) for i in merged_ids) or None,
    )
    return values


def _property_errors(properties: Any) -> list[dict[str, Any]]:
    if not isinstance(properties, dict):
        return [{"isValid": False, "message": "properties must be an object", "name": ""}]
    errors = []
    for name, value in properties.items():
        if name in READ_ONLY:
            problem = (
                "READ_ONLY_VALUE",
                f'"{name}" is a read only property; its value cannot be set.',
            )
        elif name not in WRITABLE:
            problem = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        elif not isinstance(value, str):
            problem = ("INVALID_STRING", f'Property "{name}" must be a string')
        else:
            continue
        errors.append({"isValid": False, "message": problem[1], "error": problem[0], "name": name})
    return errors


def property_updates(contact: EmulatedContact, properties: Any) -> dict[str, Any]:
    """The `CrmState.update_contact` fields that ``properties`` (a PATCH body's
    ``properties``) set on ``contact``; ``""`` clears a value.

    Raises
    ------
    HubSpotError
        400 ``VALIDATION_ERROR`` for an unknown, read-only or non-string property.
    """
    errors = _property_errors(properties)
    if errors:
        raise _invalid(f"Property values were not valid: {json.dumps(errors)}", errors=errors)
    updates: dict[str, Any] = {
        field: properties[name].strip() or None
        for name, field in NAMED_PROPERTIES.items()
        if name in properties
    }
    if "phone" in properties or "mobilephone" in properties:
        current = contact_properties(contact)
        slots = [
            properties.get(name, current[name] or "").strip() for name in ("phone", "mobilephone")
        ]
        updates["phones"] = (*(value for value in slots if value), *contact.phones[2:])
    if "email" in properties or "hs_additional_emails" in properties:
        primary = properties.get("email", contact.emails[0] if contact.emails else "")
        others = (
            _split(properties["hs_additional_emails"])
            if "hs_additional_emails" in properties
            else list(contact.emails[1:])
        )
        updates["emails"] = _unique_emails([primary, *others])
    return updates


def merged_fields(primary: EmulatedContact, secondary: EmulatedContact) -> dict[str, Any]:
    """HubSpot's merge of two contacts: the primary's values, its empty ones filled from the
    secondary; the secondary's e-mails appended; phone and mobile phone kept, or filled."""
    values: dict[str, Any] = {
        name: getattr(primary, name) or getattr(secondary, name) for name in SINGLE_VALUED_FIELDS
    }
    first, second = (contact_properties(c) for c in (primary, secondary))
    slots = [first[name] or second[name] for name in ("phone", "mobilephone")]
    values["phones"] = (*(value for value in slots if value), *primary.phones[2:])
    values["emails"] = _unique_emails([*primary.emails, *secondary.emails])
    values["tags"] = tuple(dict.fromkeys((*primary.tags, *secondary.tags)))
    return values


def _names(values: list[str]) -> list[str]:
    """Query values given comma-separated and/or repeated."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _cursor(contact_id: int) -> str:
    return base64.urlsafe_b64encode(str(contact_id).encode()).decode().rstrip("=")


def _after_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error):
        raise _invalid(f"{cursor!r} is not a valid paging cursor") from None


def _limit(value: Any, *, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise _invalid(f"limit {value!r} is not an integer") from None
    if not 1 <= limit <= maximum:
        raise _invalid(f"limit must be between 1 and {maximum}, got {limit}")
    return limit


def _batch_inputs(body: Any, maximum: int) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
        raise _invalid("inputs must be a list of objects with an id")
    if len(inputs) > maximum:
        raise _invalid(f"Too many inputs: {len(inputs)}; at most {maximum} per request")
    return inputs


def _batch_payload(results: list[Any], errors: list[dict[str, Any]], started: str) -> Response:
    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": hubspot_stamp(datetime.now(UTC)),
    }
    if errors:
        payload.update(numErrors=len(errors), errors=errors)
    return json_response(payload, 207 if errors else 200)


# -- search ---------------------------------------------------------------------------------


def _search_value(contact: EmulatedContact, properties: dict[str, Any], name: str) -> Any:
    if name in _TIMES:
        return _floor_ms(getattr(contact, _TIMES[name]))
    if name == "hs_object_id":
        return contact.id
    return properties.get(name)


def _filter(spec: Any) -> Callable[[EmulatedContact, dict[str, Any]], bool]:
    """One search filter as a predicate over a contact and its properties."""
    if not isinstance(spec, dict) or "propertyName" not in spec or "operator" not in spec:
        raise _invalid("a filter needs propertyName and operator")
    name, operator = spec["propertyName"], str(spec["operator"]).upper()
    if name not in ALL_PROPERTIES:
        raise _invalid(f"property {name!r} is not emulated in search")
    if operator in {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}:
        wanted = operator == "HAS_PROPERTY"
        return lambda c, p: (_search_value(c, p, name) is not None) == wanted
    ordered = name in _TIMES or name == "hs_object_id"
    if ordered and operator in _ORDERED_OPERATORS:
        parse: Callable[[Any], Any] = _when_ms if name in _TIMES else int
        try:
            low = parse(spec.get("value"))
            high = parse(spec["highValue"]) if operator == "BETWEEN" else None
        except (KeyError, ValueError):
            raise _invalid(f"filter on {name} needs a value (and highValue for BETWEEN)") from None
        return lambda c, p: _compare(_search_value(c, p, name), operator, low, high)
    if operator in {"EQ", "NEQ"}:
        wanted_text = str(spec.get("value", "")).strip().lower()

        def matches(contact: EmulatedContact, properties: dict[str, Any]) -> bool:
            values = [properties.get(name)]
            if name == "email":  # EQ on email also finds additional addresses
                values += _split(properties.get("hs_additional_emails"))
            found = any((v or "").strip().lower() == wanted_text for v in values)
            return found == (operator == "EQ")

        return matches
    raise _invalid(f"operator {operator} on {name} is not emulated")


def _compare(actual: int, operator: str, low: int, high: int | None) -> bool:
    match operator:
        case "EQ":
            return actual == low
        case "NEQ":
            return actual != low
        case "LT":
            return actual < low
        case "LTE":
            return actual <= low
        case "GT":
            return actual > low
        case "GTE":
            return actual >= low
        case _:
            return low <= actual <= (high if high is not None else low)


def _filter_groups(groups: Any) -> list[list[Callable[[EmulatedContact, dict[str, Any]], bool]]]:
    if groups is None:
        return []
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise _invalid("filterGroups must be a list of objects")
    max_groups, max_per_group, max_total = FILTER_LIMITS
    filters = [g.get("filters") or [] for g in groups]
    if (
        len(groups) > max_groups
        or any(len(f) > max_per_group for f in filters)
        or sum(len(f) for f in filters) > max_total
    ):
        raise _invalid(
            f"Too many filters: at most {max_groups} groups, {max_per_group} filters per group "
            f"and {max_total} in all"
        )
    return [[_filter(spec) for spec in group] for group in filters]


def _sort_rule(sorts: Any) -> tuple[str, bool]:
    """The sort's property and whether it descends (hs_object_id ascending by default)."""
    if not sorts:
        return "hs_object_id", False
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise _invalid("Only one sort rule is allowed")
    rule = sorts[0]
    if isinstance(rule, str):  # the generated clients' "-createdate" form
        name, descending = rule.lstrip("-"), rule.startswith("-")
    elif isinstance(rule, dict) and "propertyName" in rule:
        name = rule["propertyName"]
        descending = str(rule.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise _invalid("a sort needs propertyName and direction")
    if name not in ALL_PROPERTIES:
        raise _invalid(f"cannot sort on {name!r}")
    return name, descending


def _offset(value: Any) -> int:
    if value in (None, ""):
        return 0
    try:
        offset = int(value)
    except (TypeError, ValueError):
        raise _invalid(f"after {value!r} is not a valid paging cursor") from None
    if offset < 0:
        raise _invalid(f"after {value!r} is not a valid paging cursor")
    return offset


# -- the emulator -----------------------------------------------------------------------------


class HubSpotEmulator(CrmEmulator):
    """A HubSpot account with one private app whose access token is ``token``.

    Parameters
    ----------
    state
        The contacts and deals it serves.
    new_ids_on_merge
        HubSpot's newer merge: the merged record gets a new id and both old ids redirect
        to it (else the primary keeps its id).
    options
        ``token`` and ``bucket``, as `CrmEmulator` takes them.

    Attributes
    ----------
    search_cap
        How far search pages (10,000 on HubSpot); tests lower it.
    """

    kind = "hubspot"
    # Private apps on Free/Starter: 100 requests per 10 s.
    default_bucket = Bucket(capacity=100, drain_per_second=10)

    def __init__(
        self, state: CrmState | None = None, *, new_ids_on_merge: bool = False, **options: Any
    ) -> None:
        super().__init__(state, **options)
        self.new_ids_on_merge = new_ids_on_merge
        self.search_cap = SEARCH_CAP
        self._redirects: dict[int, int] = {}  # merged-away id -> the id it resolves to
        self._merged: dict[int, tuple[int, ...]] = {}  # hs_merged_object_ids

    def reset_account(self) -> None:
        self._redirects.clear()
        self._merged.clear()

    # -- the HTTP side -------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        post, one = ["POST"], f"{CONTACTS}/{{contact_id}}"
        return [
            Route(f"{CONTACTS}/search", self._endpoint(self._search), methods=post),
            Route(f"{CONTACTS}/batch/read", self._endpoint(self._batch_read), methods=post),
            Route(f"{CONTACTS}/batch/update", self._endpoint(self._batch_update), methods=post),
            Route(f"{CONTACTS}/merge", self._endpoint(self._merge), methods=post),
            Route(DEAL_ASSOCIATIONS, self._endpoint(self._deal_associations), methods=post),
            Route(CONTACTS, self._endpoint(self._list), methods=["GET"]),
            Route(CONTACTS, self._endpoint(self._create), methods=post),
            Route(NOTES, self._endpoint(self._create_note), methods=post),
            Route(f"{NOTES}/batch/read", self._endpoint(self._read_notes), methods=post),
            Route(NOTE_ASSOCIATIONS, self._endpoint(self._note_associations), methods=post),
            Route(DEAL_ASSOCIATION, self._endpoint(self._unassociate), methods=["DELETE"]),
            Route(one, self._endpoint(self._get), methods=["GET"]),
            Route(one, self._endpoint(self._patch), methods=["PATCH"]),
        ]

    def unauthorized(self) -> Response:
        return HubSpotError(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
            "oauth-overview",
        ).response()

    def rate_limited(self) -> Response:
        return json_response(
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
                "category": "RATE_LIMITS",
                "correlationId": str(uuid.uuid4()),
            },
            429,
        )

    def _endpoint(
        self, handler: Callable[[Request, Any], Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = await read_json(request) if request.method != "GET" else None
            except ValueError:
                return _invalid("Invalid input JSON: the body is not valid JSON").response()
            try:
                answer = handler(request, body)
            except HubSpotError as error:
                return error.response()
            return answer if isinstance(answer, Response) else json_response(answer)

        return endpoint

    # -- endpoints ------------------------------------------------------------------------

    def _list(self, request: Request, _body: Any) -> dict[str, Any]:
        query = request.query_params
        limit = _limit(query.get("limit"), default=10, maximum=LIST_LIMIT)
        wanted = _names(query.getlist("properties")) or list(DEFAULT_PROPERTIES)
        with_deals = "deals" in _names(query.getlist("associations"))
        after = _after_id(query.get("after"))
        archived = query.get("archived", "false").lower() == "true"  # none are archived here
        remaining = [
            contact
            for contact_id, contact in sorted(self.state.contacts.items())
            if not archived and (after is None or contact_id > after)
        ]
        page = remaining[:limit]
        payload: dict[str, Any] = {
            "results": [self._record(c, wanted, with_deals=with_deals) for c in page]
        }
        if len(remaining) > limit:
            cursor = _cursor(page[-1].id)
            payload["paging"] = {"next": {"after": cursor, "link": f"?after={cursor}"}}
        return payload

    def _get(self, request: Request, _body: Any) -> dict[str, Any]:
        query = request.query_params
        contact = self._existing(request.path_params["contact_id"])
        wanted = _names(query.getlist("properties")) or list(DEFAULT_PROPERTIES)
        with_deals = "deals" in _names(query.getlist("associations"))
        return self._record(contact, wanted, with_deals=with_deals)

    def _search(self, _request: Request, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        groups = _filter_groups(body.get("filterGroups"))
        sort_name, descending = _sort_rule(body.get("sorts"))
        limit = _limit(body.get("limit"), default=10, maximum=SEARCH_LIMIT)
        offset = _offset(body.get("after"))
        if offset >= self.search_cap:
            raise _invalid(f"Cannot page beyond {self.search_cap} results (after={offset})")
        rows = [(c, contact_properties(c)) for c in self.state.contacts.values()]
        rows = [
            (c, p) for c, p in rows if not groups or any(all(f(c, p) for f in g) for g in groups)
        ]
        keyed = [(_search_value(c, p, sort_name), c.id, c) for c, p in rows]
        present = sorted((k for k in keyed if k[0] is not None), reverse=descending)
        ordered = [c for *_, c in present] + [c for v, _, c in keyed if v is None]
        wanted = body.get("properties") or list(DEFAULT_PROPERTIES)
        page = ordered[offset : min(offset + limit, self.search_cap)]
        payload: dict[str, Any] = {
            "total": len(ordered),
            "results": [self._record(c, wanted) for c in page],
        }
        if offset + len(page) < len(ordered):
            payload["paging"] = {"next": {"after": str(offset + len(page))}}
        return payload

    def _batch_read(self, _request: Request, body: Any) -> Response:
        started = hubspot_stamp(datetime.now(UTC))
        inputs = _batch_inputs(body, BATCH_LIMIT)
        wanted = body.get("properties") or list(DEFAULT_PROPERTIES)
        found: dict[int, EmulatedContact] = {}
        missing: list[str] = []
        for entry in inputs:
            contact = self._resolve(entry["id"])
            if contact is None:
                missing.append(str(entry["id"]))
            else:
                found.setdefault(contact.id, contact)
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        results = [self._record(c, wanted) for c in found.values()]
        return _batch_payload(results, errors, started)

    def _deal_associations(self, _request: Request, body: Any) -> Response:
        started = hubspot_stamp(datetime.now(UTC))
        results, missing = [], []
        for entry in _batch_inputs(body, ASSOCIATION_BATCH_LIMIT):
            contact = self._resolve(entry["id"])
            if contact is None:
                missing.append(str(entry["id"]))
                continue
            deals = self.state.deals_of(contact.id)
            if deals:  # a contact without deals is left out
                results.append({"from": {"id": str(entry["id"])}, "to": _deal_links(deals)})
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "No contacts with these ids",
                "context": {"ids": missing},
            }
        ]
        return _batch_payload(results, errors if missing else [], started)

    def _patch(self, request: Request, body: Any) -> dict[str, Any]:
        contact = self._existing(request.path_params["contact_id"])
        properties = body.get("properties") if isinstance(body, dict) else None
        updates = property_updates(contact, properties)
        self._check_unique_emails(contact, updates)
        return self._record(self.state.update_contact(contact.id, **updates), ALL_PROPERTIES)

    def _create(self, _request: Request, body: Any) -> Response:
        """``POST /crm/v3/objects/contacts``: a new contact with its ``properties`` and
        ``associations`` (deals, type 4); 201 with the contact, 409 for an e-mail another
        contact holds."""
        body = body if isinstance(body, dict) else {}
        blank = EmulatedContact(id=0)
        updates = property_updates(blank, body.get("properties") or {})
        self._check_unique_emails(blank, updates)
        deals = []
        for association in body.get("associations") or []:
            to = (association or {}).get("to") or {}
            types = (association or {}).get("types") or []
            if not any((t or {}).get("associationTypeId") == CONTACT_TO_DEAL for t in types):
                raise _invalid("only contact-to-deal associations (type 4) are supported here")
            deal = _int_id(to.get("id"))
            if deal not in self.state.deals:
                raise _invalid(f"deal {to.get('id')} does not exist")
            deals.append(deal)
        contact = self.state.add_contact(**updates)
        for deal in deals:
            self.state.link_deal(deal, contact.id)
        return json_response(self._record(contact, ALL_PROPERTIES), 201)

    def _create_note(self, _request: Request, body: Any) -> Response:
        """``POST /crm/v3/objects/notes``: ``hs_note_body`` and ``hs_timestamp`` (required),
        associated with contacts (type 202); 201."""
        body = body if isinstance(body, dict) else {}
        properties = body.get("properties") or {}
        if not properties.get("hs_timestamp"):
            raise _invalid("Property values were not valid: hs_timestamp is required")
        text = properties.get("hs_note_body")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("Property values were not valid: hs_note_body is empty")
        contacts = []
        for association in body.get("associations") or []:
            types = (association or {}).get("types") or []
            if not any((t or {}).get("associationTypeId") == NOTE_TO_CONTACT for t in types):
                raise _invalid("only note-to-contact associations (type 202) are supported here")
            contacts.append(self._existing(((association or {}).get("to") or {}).get("id")))
        note_ids = [self.state.add_note(contact.id, text.strip()) for contact in contacts]
        stamp = hubspot_stamp(datetime.now(UTC))
        record = {
            "id": str(note_ids[0] if note_ids else 0),
            "properties": {
                "hs_note_body": text.strip(),
                "hs_timestamp": properties["hs_timestamp"],
            },
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        return json_response(record, 201)

    def _note_associations(self, _request: Request, body: Any) -> Response:
        """Each contact's notes (v4 batch association read, type 202's reverse)."""
        started = hubspot_stamp(datetime.now(UTC))
        results = []
        for entry in _batch_inputs(body, ASSOCIATION_BATCH_LIMIT):
            contact = self._resolve(entry["id"])
            notes = [
                i for i, (owner, _) in self.state.notes.items() if contact and owner == contact.id
            ]
            if notes:
                to = [
                    {
                        "toObjectId": str(i),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}
                        ],
                    }
                    for i in notes
                ]
                results.append({"from": {"id": str(entry["id"])}, "to": to})
        return _batch_payload(results, [], started)

    def _read_notes(self, _request: Request, body: Any) -> Response:
        """Notes by id with ``hs_note_body``."""
        started = hubspot_stamp(datetime.now(UTC))
        results = []
        for entry in _batch_inputs(body, BATCH_LIMIT):
            note = self.state.notes.get(_int_id(entry["id"]))
            if note is not None:
                results.append(
                    {
                        "id": str(entry["id"]),
                        "properties": {"hs_note_body": note[1]},
                        "archived": False,
                    }
                )
        return _batch_payload(results, [], started)

    def _unassociate(self, request: Request, _body: Any) -> Response:
        """``DELETE /crm/v4/objects/contacts/{id}/associations/deals/{deal}``: 204."""
        contact = self._existing(request.path_params["contact_id"])
        deal = _int_id(request.path_params["deal_id"])
        if deal in self.state.deals:
            self.state.unlink_deal(deal, contact.id)
        return Response(status_code=204)

    def _batch_update(self, _request: Request, body: Any) -> Response:
        started = hubspot_stamp(datetime.now(UTC))
        inputs = _batch_inputs(body, BATCH_LIMIT)
        contacts = [self._existing(entry["id"]) for entry in inputs]
        ids = [contact.id for contact in contacts]
        duplicates = sorted({str(i) for i in ids if ids.count(i) > 1})
        if duplicates:
            raise _invalid(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
        # Every input is checked before any is applied: a refused batch changes nothing.
        changes = [
            property_updates(c, e.get("properties")) for c, e in zip(contacts, inputs, strict=True)
        ]
        for contact, updates in zip(contacts, changes, strict=True):
            self._check_unique_emails(contact, updates)
        results = [
            self._record(self.state.update_contact(c.id, **updates), ALL_PROPERTIES)
            for c, updates in zip(contacts, changes, strict=True)
        ]
        return _batch_payload(results, [], started)

    def _merge(self, _request: Request, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        if not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
            raise _invalid("primaryObjectId and objectIdToMerge are required")
        primary = self._existing(body["primaryObjectId"])
        merged_id = _int_id(body["objectIdToMerge"])
        if merged_id in self._redirects:
            raise _invalid(
                f"Object {merged_id} was already merged into {self._redirects[merged_id]}: "
                "it cannot be merged again"
            )
        secondary = self._existing(body["objectIdToMerge"])
        if secondary.id == primary.id:
            raise _invalid(f"Cannot merge object {primary.id} with itself")
        identities = (
            2 + len(self._merged.get(primary.id, ())) + len(self._merged.get(secondary.id, ()))
        )
        if identities > MERGE_LIMIT:
            raise HubSpotError(
                414,
                "VALIDATION_ERROR",
                f"Cannot have more than {MERGE_LIMIT} identities on a profile",
            )
        return self._record(self.merge_contacts(primary, secondary), ALL_PROPERTIES)

    # -- state ------------------------------------------------------------------------------

    def merge_contacts(
        self, primary: EmulatedContact, secondary: EmulatedContact
    ) -> EmulatedContact:
        """Merge ``secondary`` into ``primary`` as HubSpot does; return the survivor."""
        values = merged_fields(primary, secondary)
        if self.new_ids_on_merge:
            created = self.state.add_contact(created_at=primary.created_at, **values)
            survivor = self.state.update_contact(created.id)  # stamps lastmodifieddate
            gone = (primary.id, secondary.id)
        else:
            survivor = self.state.update_contact(primary.id, **values)
            gone = (secondary.id,)
        for old in gone:
            for deal in self.state.deals_of(old):
                self.state.unlink_deal(deal.id, old)
                self.state.link_deal(deal.id, survivor.id)
            self.state.move_notes(old, survivor.id)
            del self.state.contacts[old]
        history = (*self._merged.pop(primary.id, ()), *self._merged.pop(secondary.id, ()))
        self._merged[survivor.id] = tuple(dict.fromkeys((*history, *gone)))
        for old, target in list(self._redirects.items()):
            if target in gone:
                self._redirects[old] = survivor.id
        for old in gone:
            self._redirects[old] = survivor.id
        self.state.merge_log.append((survivor.id, (secondary.id,)))
        return survivor

    def _resolve(self, raw_id: Any) -> EmulatedContact | None:
        """The contact an id names, following merges; None when there is none."""
        try:
            contact_id = _int_id(raw_id)
        except HubSpotError:
            return None
        return self.state.contacts.get(self._redirects.get(contact_id, contact_id))

    def _existing(self, raw_id: Any) -> EmulatedContact:
        contact = self._resolve(raw_id)
        if contact is None:
            raise _not_found(raw_id)
        return contact

    def _check_unique_emails(self, contact: EmulatedContact, updates: dict[str, Any]) -> None:
        """409 when an address new to ``contact`` is another contact's (e-mails identify)."""
        held = {value.lower() for value in contact.emails}
        added = {value.lower() for value in updates.get("emails", ()) if value.lower() not in held}
        if not added:
            return
        for other in self.state.contacts.values():
            if other.id != contact.id and added & {value.lower() for value in other.emails}:
                raise HubSpotError(
                    409, "CONFLICT", f"Contact already exists. Existing ID: {other.id}"
                )

    def _record(
        self, contact: EmulatedContact, wanted: Any, *, with_deals: bool = False
    ) -> dict[str, Any]:
        """A contact as a ``SimplePublicObject`` (with its deals when asked)."""
        values = contact_properties(contact, self._merged.get(contact.id, ()))
        names = [*dict.fromkeys([*(n for n in wanted if isinstance(n, str)), *ALWAYS_RETURNED])]
        record: dict[str, Any] = {
            "id": str(contact.id),
            "properties": {name: values[name] for name in names if name in values},
            "createdAt": values["createdate"],
            "updatedAt": values["lastmodifieddate"],
            "archived": False,
        }
        if with_deals:
            deals = self.state.deals_of(contact.id)
            record["associations"] = {
                "deals": {"results": [{"id": str(d.id), "type": "contact_to_deal"} for d in deals]}
            }
        return record


def _int_id(raw_id: Any) -> int:
    try:
        return int(str(raw_id).strip())
    except ValueError:
        raise _not_found(raw_id) from None


def _deal_links(deals: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "toObjectId": str(deal.id),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}],
        }
        for deal in deals
    ]
