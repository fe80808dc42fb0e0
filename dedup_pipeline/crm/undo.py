"""Take back pushed merges (``dedup push undo``), as far as each CRM allows.

The push ledger keeps, for every instruction it applied, the cards as they were before
(the survivor and each merged card, with their phones, e-mails and deals) and the values
the push set. Undo works from that snapshot:

- the **survivor** gets back the names the push set (where the card still holds them: a
  value a person changed since is left alone) and exactly its own phones and e-mails,
  less what the merge brought; a value anyone added since stays;
- each **merged card** comes back: untagged where the CRM kept it (amoCRM, tagged
  losers), or created again from the snapshot with its names, phones and e-mails where
  the merge deleted it (Bitrix24, HubSpot, amoCRM's trash), under a new id;
- each **deal** is linked to the card it belonged to again, and unlinked from the
  survivor when the survivor did not hold it before.

What a CRM cannot give back is said plainly, per instruction: a HubSpot merge is final
(the merged contact keeps the duplicate's history; a re-created card has a new id and
none of it), and a Bitrix24 merge moves activities and deals the API does not restore.
Undo is a dry run unless applied; an undone instruction is marked ``undone`` in the
ledger and is not pushed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dedup_pipeline.crm.connector import CrmConnector, CrmContact, RestoreOutcome, RestoreStep
from dedup_pipeline.crm.ledger import PushLedger, PushStatus
from dedup_pipeline.crm.transport import CrmHttpError
from dedup_pipeline.crm.values import email_key, phone_key

__all__ = ["UndoReport", "UndoSelection", "restore_values", "undo_pushes"]

#: Single-valued fields a push may set on a survivor.
_NAMED = ("first_name", "middle_name", "last_name", "company", "city")


@dataclass(frozen=True)
class UndoSelection:
    """Which applied instructions to take back: those of one push run, of some
    instructions or of some clusters (any that match), or ``everything``."""

    push_run: str | None = None
    instructions: Collection[str] = ()
    clusters: Collection[str] = ()
    everything: bool = False

    def __post_init__(self) -> None:
        if not (self.push_run or self.instructions or self.clusters or self.everything):
            raise ValueError("say what to undo: a push run, instructions or clusters (or all)")


@dataclass
class UndoReport:
    """What one undo did (or, in a dry run, would do) in one CRM.

    Attributes
    ----------
    selected
        Applied instructions the selection names.
    restored, partly_restored, failed
        Outcomes (with ``apply``).
    planned
        Dry run: per instruction, the requests it would send.
    cards
        Merged cards' old ids -> their ids now (new where created again).
    not_restored
        Per instruction, what the CRM could not give back.
    merges_are_final
        Whether merges in this CRM are final (the merged cards can only be created anew).
    stopped
        Why the undo stopped early (the CRM could not be reached), if it did.
    """

    source: str
    apply: bool
    selected: int = 0
    restored: int = 0
    partly_restored: int = 0
    failed: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)
    cards: dict[str, str] = field(default_factory=dict)
    not_restored: dict[str, list[str]] = field(default_factory=dict)
    merges_are_final: bool = False
    stopped: str | None = None


def _selected(entries: pl.DataFrame, source: str, selection: UndoSelection) -> pl.DataFrame:
    applied = entries.filter(
        (pl.col("source") == source)
        & (pl.col("status") == PushStatus.APPLIED)
        & pl.col("snapshot").is_not_null()
    )
    if selection.everything:
        return applied
    run = pl.col("answer").str.json_path_match("$.push_run")
    cluster = pl.col("instruction_id").str.split("/").list.first()  # '<cluster_id>/<source>'
    wanted = pl.lit(False)
    if selection.push_run:
        wanted |= run == selection.push_run
    if selection.instructions:
        wanted |= pl.col("instruction_id").is_in(list(selection.instructions))
    if selection.clusters:
        wanted |= cluster.is_in(list(selection.clusters))
    return applied.filter(wanted)


def restore_values(
    before: CrmContact,
    now: CrmContact,
    losers: Sequence[CrmContact],
    pushed: dict[str, Any],
    *,
    region: str,
) -> dict[str, Any]:
    """What the survivor must be given back (`RestoreStep.set_fields`).

    Parameters
    ----------
    before
        The survivor before the merge (the snapshot).
    now
        The survivor as it is now.
    losers
        The merged cards before the merge.
    pushed
        The values the push set (empty for a ledger that did not keep them).
    region
        The source's default region, for comparing phone spellings.
    """
    values: dict[str, Any] = {}
    for name in _NAMED:
        was, held, set_to = getattr(before, name), getattr(now, name), pushed.get(name)
        # Only what the push wrote and nobody has changed since.
        if set_to is not None and held == set_to and held != was:
            values[name] = was

    def listed(kind: str, key: Callable[[str], str]) -> None:
        own = [v for v in getattr(before, kind) if v and v.strip()]
        own_keys = {key(v) for v in own}
        brought = {key(v) for card in losers for v in getattr(card, kind) if v}
        brought |= {key(v) for v in pushed.get(kind) or () if v}
        added_since = [
            v for v in getattr(now, kind) if key(v) not in own_keys and key(v) not in brought
        ]
        target = [*own, *added_since]
        if target != list(getattr(now, kind)):
            values[kind] = target

    listed("phones", lambda v: phone_key(v, region=region))
    listed("emails", email_key)
    return values


def _step(row: dict[str, Any], cards: dict[str, CrmContact], region: str) -> RestoreStep | None:
    snapshot = json.loads(row["snapshot"])
    answer = json.loads(row["answer"] or "{}")
    before = CrmContact.from_json(snapshot["survivor"])
    losers = tuple(CrmContact.from_json(card) for card in snapshot.get("losers") or ())
    # Cards an earlier, interrupted undo brought back are not created twice.
    back = (answer.get("undo_attempt") or {}).get("cards") or {}
    losers = tuple(card for card in losers if card.id not in back)
    now = cards.get(str(answer.get("survivor_id") or before.id))
    if now is None:
        return None
    pushed = snapshot.get("set_fields") or {}
    values = restore_values(before, now, losers, pushed, region=region)
    return RestoreStep(row["instruction_id"], now, values, losers, before.deal_ids)


def _not_restored_note(snapshot: dict[str, Any]) -> list[str]:
    if "set_fields" in snapshot:
        return []
    return [
        "this push's ledger does not hold the values it set: the survivor keeps its "
        "names and the phones and e-mails that came from other sources"
    ]


def undo_pushes(
    ledger: PushLedger,
    *,
    source: str,
    connector: CrmConnector,
    selection: UndoSelection,
    region: str,
    apply: bool = False,
) -> UndoReport:
    """Take back (or, without ``apply``, plan taking back) applied merges in one CRM.

    Parameters
    ----------
    ledger
        The push ledger; with ``apply`` each instruction taken back is marked ``undone``
        with what the CRM answered.
    source
        The CRM source.
    connector
        Its connector.
    selection
        Which applied instructions to take back.
    region
        The source's default region (phone spellings).
    apply
        Send the changes. Without it nothing is sent and the ledger is not written.
    """
    report = UndoReport(source=source, apply=apply, merges_are_final=connector.merges_are_final)
    rows = list(_selected(ledger.entries(), source, selection).iter_rows(named=True))
    report.selected = len(rows)
    for offset in range(0, len(rows), connector.batch_size):
        group = rows[offset : offset + connector.batch_size]
        survivors = []
        for row in group:
            answer = json.loads(row["answer"] or "{}")
            survivors.append(
                str(answer.get("survivor_id") or json.loads(row["snapshot"])["survivor"]["id"])
            )
        try:
            cards = connector.fetch(survivors)
        except CrmHttpError as error:
            report.stopped = str(error)
            break
        steps: list[tuple[dict[str, Any], RestoreStep]] = []
        for row in group:
            step = _step(row, cards, region)
            if step is None:
                report.failed += 1
                report.not_restored[row["instruction_id"]] = ["the survivor is not in the CRM"]
                continue
            steps.append((row, step))
        if not apply:
            for _, step in steps:
                report.planned.append(
                    {
                        "instruction_id": step.instruction_id,
                        "survivor_id": step.survivor.id,
                        "bring_back": [card.id for card in step.losers],
                        "requests": [vars(r) for r in connector.plan_restore(step)],
                    }
                )
            continue
        try:
            outcomes = connector.restore([step for _, step in steps])
        except CrmHttpError as error:
            report.stopped = str(error)
            report.failed += len(steps)
            break
        for (row, step), outcome in zip(steps, outcomes, strict=True):
            _record(ledger, row, step, outcome, report)
    return report


def _record(
    ledger: PushLedger,
    row: dict[str, Any],
    step: RestoreStep,
    outcome: RestoreOutcome,
    report: UndoReport,
) -> None:
    notes = [*_not_restored_note(json.loads(row["snapshot"])), *outcome.not_restored]
    if notes:
        report.not_restored[step.instruction_id] = notes
    report.cards.update(outcome.cards)
    pushed = json.loads(row["answer"] or "{}")
    cards = {**((pushed.get("undo_attempt") or {}).get("cards") or {}), **outcome.cards}
    if outcome.status == "failed":
        report.failed += 1
        # Still applied; what came back so far is kept for the next try.
        pushed["undo_attempt"] = {"answer": outcome.answer, "cards": cards}
        ledger.record(
            row["instruction_id"],
            row["instruction_version"],
            source=row["source"],
            status=PushStatus.APPLIED,
            answer=pushed,
        )
        return
    if outcome.status == "restored" and not notes:
        report.restored += 1
    else:
        report.partly_restored += 1
    ledger.record(
        row["instruction_id"],
        row["instruction_version"],
        source=row["source"],
        status=PushStatus.UNDONE,
        answer={
            "push": pushed,
            "undo": outcome.answer,
            "cards": cards,
            "not_restored": notes,
        },
    )
