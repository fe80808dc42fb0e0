"""What a CRM connector is: contacts in CRM-neutral fields, and the calls pull and push
make on any CRM.

Each CRM module (`bitrix24`, `amocrm`, `hubspot`) implements `CrmConnector` over a
`CrmTransport`. The CRM-independent work (the ledger, snapshots, resuming, dry runs)
lives in `dedup_pipeline.crm.push` and `dedup_pipeline.crm.pull`, so a connector only
translates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "NOTE_PREFIX",
    "CrmConnector",
    "CrmContact",
    "MergeStep",
    "PlannedRequest",
    "RestoreOutcome",
    "RestoreStep",
    "StepOutcome",
    "not_stored_note",
]

#: How a note written by a push begins.
NOTE_PREFIX = "lead-dedup:"


def not_stored_note(not_stored: dict[str, Any]) -> str | None:
    """The text of the note a push leaves on a survivor for the golden values the CRM has no
    place for (a company on a contact, a third phone), or None when there are none."""
    parts = []
    for name, value in not_stored.items():
        values = value if isinstance(value, list | tuple) else [value]
        shown = ", ".join(str(v) for v in values if v not in (None, ""))
        if shown:
            parts.append(f"{name.replace('_', ' ')}: {shown}")
    if not parts:
        return None
    return (
        f"{NOTE_PREFIX} values of this client's merged records that this card has no field for. "
        + "; ".join(parts)
    )


@dataclass(frozen=True)
class CrmContact:
    """A contact card as a connector reads it, in CRM-neutral fields.

    ``id`` is the CRM's id as text; ``phones`` and ``emails`` are as the CRM stores them
    (not normalised); ``deal_ids`` are the deals (amoCRM leads) linked to the contact.
    """

    id: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    city: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    deal_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: Notes a push left on the card (read by ``fetch``, so that none is left twice).
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The card as a JSON object (ISO timestamps, lists), as pulls and snapshots
        store it."""
        return {
            "id": self.id,
            "first_name": self.first_name,
            "middle_name": self.middle_name,
            "last_name": self.last_name,
            "company": self.company,
            "city": self.city,
            "phones": list(self.phones),
            "emails": list(self.emails),
            "deal_ids": list(self.deal_ids),
            "tags": list(self.tags),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, card: dict[str, Any]) -> CrmContact:
        """The card `as_json` wrote (a snapshot in the push ledger)."""

        def when(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        def listed(name: str) -> tuple[str, ...]:
            return tuple(str(v) for v in card.get(name) or ())

        return cls(
            id=str(card["id"]),
            first_name=card.get("first_name"),
            middle_name=card.get("middle_name"),
            last_name=card.get("last_name"),
            company=card.get("company"),
            city=card.get("city"),
            phones=listed("phones"),
            emails=listed("emails"),
            deal_ids=listed("deal_ids"),
            tags=listed("tags"),
            created_at=when(card.get("created_at")),
            updated_at=when(card.get("updated_at")),
        )


@dataclass(frozen=True)
class MergeStep:
    """One merge instruction as a connector applies it, resolved against the CRM.

    Attributes
    ----------
    instruction_id
        The instruction's id (for answers and logs).
    survivor
        The survivor's card as it is now (its ``id`` may differ from the instruction's
        when the CRM re-numbered it, as a HubSpot merge does).
    losers
        The instruction's merged records that still exist as separate cards; empty when
        the instruction only updates, or when an earlier try merged them already.
    set_fields
        Golden values for the survivor (CRM-neutral names: ``first_name``, ``last_name``,
        ``middle_name``, ``full_name``, ``company``, ``city``; ``phones`` and ``emails``
        as the complete lists to hold).
    """

    instruction_id: str
    survivor: CrmContact
    losers: tuple[CrmContact, ...]
    set_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended in the CRM.

    Attributes
    ----------
    status
        A `PushStatus`: ``applied``, ``conflict`` (the CRM refused to merge disagreeing
        values; a person must merge at ``manual_merge_url``) or ``failed``.
    answer
        What the CRM answered (JSON-ready), kept in the push ledger.
    survivor_id
        The survivor's id after the step (a HubSpot merge may give it a new one).
    manual_merge_url
        Where a person merges the cards by hand, for conflicts.
    """

    status: str
    answer: Any
    survivor_id: str
    manual_merge_url: str | None = None


@dataclass(frozen=True)
class RestoreStep:
    """One applied merge to take back, worked out from the push ledger's snapshot.

    Attributes
    ----------
    instruction_id
        The instruction the push applied.
    survivor
        The survivor's card as it is now.
    set_fields
        Values to write back on the survivor (CRM-neutral names, as in `MergeStep`):
        names the push set that the card still holds, and ``phones`` / ``emails`` as the
        complete lists to hold (the survivor's own values before the merge, and whatever
        was added since by anyone but the merge).
    losers
        The merged cards as they were before the merge, deals included.
    survivor_deals
        The deals the survivor was linked to before the merge.
    """

    instruction_id: str
    survivor: CrmContact
    set_fields: dict[str, Any]
    losers: tuple[CrmContact, ...]
    survivor_deals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoreOutcome:
    """How taking back one merge ended.

    Attributes
    ----------
    status
        ``restored`` (everything the snapshot holds is back), ``partly_restored`` (what
        the CRM allows; ``not_restored`` says what is not) or ``failed``.
    answer
        What the CRM answered (JSON-ready), kept in the push ledger.
    cards
        Each merged card's old id -> the id of its card now: the same id when the card
        came back, a new one when it had to be created again.
    not_restored
        What could not be restored, in plain words.
    """

    status: str
    answer: Any
    cards: dict[str, str] = field(default_factory=dict)
    not_restored: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedRequest:
    """A request a push would send (what a dry run shows)."""

    method: str
    path: str
    body: Any = None


class CrmConnector(Protocol):
    """Reads contacts from one CRM account and applies merge steps to it."""

    #: The CRM (``bitrix24``, ``amocrm``, ``hubspot``).
    kind: str
    #: How many steps one `apply` call takes (one request can carry several in Bitrix24).
    batch_size: int

    def pull(self, *, updated_since: datetime | None = None) -> Iterator[list[CrmContact]]:
        """Every contact, page by page; only those modified at or after ``updated_since``
        when given."""
        ...

    def fetch(self, ids: Sequence[str]) -> dict[str, CrmContact]:
        """The current cards of ``ids``, keyed by the requested id; ids with no card are
        left out. A card may come back under another id when the CRM redirects a merged
        id to its survivor (HubSpot)."""
        ...

    def plan(self, step: MergeStep) -> list[PlannedRequest]:
        """The requests `apply` would send for ``step``, sending nothing."""
        ...

    #: Whether a merge in this CRM is final: the merged cards are gone and can only be
    #: created again, under new ids and without their history.
    merges_are_final: bool

    def apply(self, steps: Sequence[MergeStep]) -> list[StepOutcome]:
        """Apply the steps in order: set the golden values on each survivor, then merge
        its losers into it. One outcome per step.

        Raises
        ------
        CrmHttpError
            When the CRM cannot be reached after the transport's retries (the push
            records the steps of the call as failed and stops).
        """
        ...

    def plan_restore(self, step: RestoreStep) -> list[PlannedRequest]:
        """The requests `restore` would send for ``step``, sending nothing."""
        ...

    def restore(self, steps: Sequence[RestoreStep]) -> list[RestoreOutcome]:
        """Take back applied merges, as far as the CRM allows: write the survivor's
        values back, bring back (or create again) each merged card with its phones and
        e-mails, and link each deal to the card it belonged to. One outcome per step.

        Raises
        ------
        CrmHttpError
            When the CRM cannot be reached after the transport's retries.
        """
        ...

    def close(self) -> None:
        """Release the HTTP client."""
        ...
