"""What an emulated CRM holds and how a merge changes it, whatever protocol serves it.

The semantics follow what the CRMs document (docs/notes/crm_protocols.md): a merge keeps
the survivor, moves the losers' phones, e-mails and deals to it, fills the survivor's
empty fields from the losers and deletes the losers. A strict merge (Bitrix24's
``crm.entity.mergeBatch``) changes nothing and answers CONFLICT when a single-valued
field is filled differently on two of the contacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

__all__ = ["SINGLE_VALUED_FIELDS", "CrmState", "Deal", "EmulatedContact", "MergeOutcome"]

#: The contact fields that hold one value (phones and e-mails hold several).
SINGLE_VALUED_FIELDS: tuple[str, ...] = (
    "first_name",
    "middle_name",
    "last_name",
    "company",
    "city",
)


@dataclass(frozen=True)
class EmulatedContact:
    """A contact card as the CRM stores it."""

    id: int
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    city: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    updated_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Deal:
    """A deal (lead in amoCRM) and the contacts it is linked to."""

    id: int
    title: str
    contact_ids: tuple[int, ...]


class MergeOutcome(StrEnum):
    """How a merge request ended (Bitrix24's ``result.STATUS`` values)."""

    SUCCESS = "SUCCESS"
    CONFLICT = "CONFLICT"
    NOT_FOUND = "NOT_FOUND"


_LISTS = ("phones", "emails", "tags")


def _union(*lists: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for values in lists for value in values))


class CrmState:
    """Contacts and deals of one emulated CRM account, changed only through its methods.

    Parameters
    ----------
    now
        The clock that stamps ``updated_at`` (injectable for tests).
    """

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.contacts: dict[int, EmulatedContact] = {}
        self.deals: dict[int, Deal] = {}
        #: Notes (timeline comments) by id: (contact id, text).
        self.notes: dict[int, tuple[int, str]] = {}
        #: Every merge served: (survivor id, merged-away ids), in order.
        self.merge_log: list[tuple[int, tuple[int, ...]]] = []
        self._now = now
        self._next_contact = 1
        self._next_deal = 1

    def add_contact(self, **values: object) -> EmulatedContact:
        """Create a contact; ``id`` may be given (seeding from an export), else the next."""
        contact_id = int(values.pop("id", self._next_contact))
        if contact_id in self.contacts:
            raise ValueError(f"contact {contact_id} exists")
        stamp = values.pop("created_at", None) or self._now()
        contact = EmulatedContact(
            id=contact_id,
            created_at=stamp,
            updated_at=values.pop("updated_at", None) or stamp,
            **{key: tuple(value) if key in _LISTS else value for key, value in values.items()},
        )
        self.contacts[contact_id] = contact
        self._next_contact = max(self._next_contact, contact_id + 1)
        return contact

    def add_note(self, contact_id: int, text: str) -> int:
        """Add a note to a contact's timeline; its id."""
        if contact_id not in self.contacts:
            raise KeyError(contact_id)
        note_id = len(self.notes) + 1
        self.notes[note_id] = (contact_id, text)
        return note_id

    def move_notes(self, old: int, new: int) -> None:
        """Give ``old``'s notes to ``new`` (a merge keeps the timeline)."""
        for note_id, (owner, text) in list(self.notes.items()):
            if owner == old:
                self.notes[note_id] = (new, text)

    def notes_of(self, contact_id: int) -> list[str]:
        """The texts of a contact's notes, oldest first."""
        return [text for owner, text in self.notes.values() if owner == contact_id]

    def add_deal(self, title: str, contact_ids: tuple[int, ...]) -> Deal:
        """Create a deal linked to ``contact_ids``."""
        deal = Deal(id=self._next_deal, title=title, contact_ids=tuple(contact_ids))
        self.deals[deal.id] = deal
        self._next_deal += 1
        return deal

    def update_contact(self, contact_id: int, **values: object) -> EmulatedContact:
        """Set fields of a contact (phones, e-mails and tags replace the lists)."""
        current = self.contacts[contact_id]
        lists = {
            key: tuple(values.pop(key)) for key in ("phones", "emails", "tags") if key in values
        }
        updated = replace(current, **values, **lists, updated_at=self._now())
        self.contacts[contact_id] = updated
        return updated

    def deals_of(self, contact_id: int) -> list[Deal]:
        """The deals linked to a contact."""
        return [deal for deal in self.deals.values() if contact_id in deal.contact_ids]

    def link_deal(self, deal_id: int, contact_id: int) -> None:
        """Link a deal to a contact (no change when linked already)."""
        deal = self.deals[deal_id]
        if contact_id not in deal.contact_ids:
            self.deals[deal_id] = replace(deal, contact_ids=(*deal.contact_ids, contact_id))

    def unlink_deal(self, deal_id: int, contact_id: int) -> None:
        """Remove a contact from a deal."""
        deal = self.deals[deal_id]
        kept = tuple(i for i in deal.contact_ids if i != contact_id)
        self.deals[deal_id] = replace(deal, contact_ids=kept)

    def conflicting_fields(self, contact_ids: list[int]) -> list[str]:
        """Single-valued fields filled differently on two of the contacts."""
        contacts = [self.contacts[i] for i in contact_ids]
        return [
            name
            for name in SINGLE_VALUED_FIELDS
            if len({getattr(c, name) for c in contacts if getattr(c, name)}) > 1
        ]

    def merge(self, contact_ids: list[int], *, strict: bool = True) -> MergeOutcome:
        """Merge ``contact_ids`` into the first of them.

        With ``strict`` a conflict leaves everything as it was (Bitrix24); without it the
        survivor's values win (HubSpot's primary object).
        """
        if len(contact_ids) < 2 or any(i not in self.contacts for i in contact_ids):
            return MergeOutcome.NOT_FOUND
        if strict and self.conflicting_fields(contact_ids):
            return MergeOutcome.CONFLICT
        survivor, *losers = (self.contacts[i] for i in contact_ids)
        filled = {
            name: getattr(survivor, name)
            or next((getattr(c, name) for c in losers if getattr(c, name)), None)
            for name in SINGLE_VALUED_FIELDS
        }
        self.update_contact(
            survivor.id,
            **filled,
            phones=_union(survivor.phones, *(c.phones for c in losers)),
            emails=_union(survivor.emails, *(c.emails for c in losers)),
        )
        for loser in losers:
            for deal in self.deals_of(loser.id):
                self.unlink_deal(deal.id, loser.id)
                self.link_deal(deal.id, survivor.id)
            self.move_notes(loser.id, survivor.id)
            del self.contacts[loser.id]
        self.merge_log.append((survivor.id, tuple(c.id for c in losers)))
        return MergeOutcome.SUCCESS
