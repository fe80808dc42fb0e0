"""Push merge instructions to a CRM: dry run by default, resumable, audited.

For each instruction of one CRM source the push reads the cards it names as they are now
(the snapshot kept for audit and undo), leaves out duplicates that no longer exist as
separate cards (merged by an earlier try whose answer was lost, or by a person), and
asks the connector to set the golden values and merge. Every outcome is committed to the
push ledger as soon as the CRM answers, so a push that stops resumes where it stopped and
never merges twice. Without ``apply`` nothing is sent: the push reports the requests it
would make.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dedup_pipeline.crm.connector import CrmConnector, CrmContact, MergeStep, StepOutcome
from dedup_pipeline.crm.ledger import PushLedger, PushStatus
from dedup_pipeline.crm.transport import CrmHttpError

__all__ = ["PushReport", "push_instructions"]

_log = logging.getLogger(__name__)
_BATCHES_PER_READ = 20


@dataclass
class PushReport:
    """What one push did (or, in a dry run, would do) in one CRM.

    Attributes
    ----------
    run
        This push's id, recorded with every outcome (``dedup push undo --run``).
    instructions
        The source's instructions.
    settled
        Instructions the ledger holds as applied or waiting for a person already.
    applied, conflicts, failed
        Outcomes of this push.
    nothing_to_change
        Instructions with nothing to send: the CRM holds their values already, or has no
        field for them (recorded as applied).
    planned
        Dry run: per instruction, the requests it would send.
    conflict_links
        Where a person merges what the CRM refused to merge.
    stopped
        Why the push stopped early (the CRM could not be reached), if it did.
    """

    source: str
    apply: bool
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    instructions: int = 0
    settled: int = 0
    applied: int = 0
    conflicts: int = 0
    failed: int = 0
    nothing_to_change: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)
    conflict_links: list[str] = field(default_factory=list)
    stopped: str | None = None


def _step(row: dict[str, Any], cards: dict[str, CrmContact]) -> MergeStep | None:
    survivor = cards.get(row["survivor_record_id"])
    if survivor is None:
        return None
    losers: dict[str, CrmContact] = {}
    for record_id in row["merged_record_ids"] or []:
        card = cards.get(record_id)
        # Gone, or resolving to the survivor: merged already.
        if card is not None and card.id != survivor.id:
            losers.setdefault(card.id, card)
    set_fields = {k: v for k, v in (row["set_fields"] or {}).items() if v is not None}
    return MergeStep(row["instruction_id"], survivor, tuple(losers.values()), set_fields)


def _planned(connector: CrmConnector, step: MergeStep) -> dict[str, Any]:
    return {
        "instruction_id": step.instruction_id,
        "survivor_id": step.survivor.id,
        "merge": [card.id for card in step.losers],
        "requests": [vars(request) for request in connector.plan(step)],
    }


def _key(row: dict[str, Any]) -> tuple[str, str]:
    """The ledger key of an instruction row."""
    return row["instruction_id"], row["instruction_version"]


def _snapshot(step: MergeStep) -> dict[str, Any]:
    """The cards before the step and what it sets: what an undo restores from."""
    return {
        "survivor": step.survivor.as_json(),
        "losers": [card.as_json() for card in step.losers],
        "set_fields": step.set_fields,
    }


def _ledger_answer(step: MergeStep, outcome: StepOutcome, run: str) -> dict[str, Any]:
    retired = [card.id for card in step.losers] if outcome.status == PushStatus.APPLIED else []
    if outcome.status == PushStatus.APPLIED and outcome.survivor_id != step.survivor.id:
        retired.append(step.survivor.id)  # re-numbered by the merge (HubSpot)
    answer: dict[str, Any] = {
        "crm": outcome.answer,
        "survivor_id": outcome.survivor_id,
        "retired_ids": retired,
        "push_run": run,
    }
    if outcome.manual_merge_url:
        answer["manual_merge_url"] = outcome.manual_merge_url
    return answer


def _verified(
    connector: CrmConnector, steps: list[MergeStep], outcomes: list[StepOutcome]
) -> list[StepOutcome]:
    """Failed merges checked against the CRM: when the losers are gone and the survivor
    is there, the CRM did merge and only its answer was lost (a retried request then
    finds nothing left to merge)."""
    failed = [
        n
        for n, outcome in enumerate(outcomes)
        if outcome.status == PushStatus.FAILED and steps[n].losers
    ]
    if not failed:
        return outcomes
    ids = [c.id for n in failed for c in (steps[n].survivor, *steps[n].losers)]
    try:
        cards = connector.fetch(ids)
    except CrmHttpError:
        return outcomes
    checked = list(outcomes)
    for n in failed:
        step = steps[n]
        survivor = cards.get(step.survivor.id)
        if survivor is None:
            continue
        if all(cards.get(c.id) is None or cards[c.id].id == survivor.id for c in step.losers):
            answer = {
                "verified": "the losers are merged into the survivor",
                "answer": outcomes[n].answer,
            }
            checked[n] = StepOutcome(PushStatus.APPLIED, answer, survivor.id)
    return checked


def push_instructions(
    instructions: pl.DataFrame,
    *,
    source: str,
    connector: CrmConnector,
    ledger: PushLedger,
    apply: bool = False,
    progress: Callable[[PushReport], None] | None = None,
) -> PushReport:
    """Apply (or, without ``apply``, plan) ``source``'s merge instructions in its CRM.

    Parameters
    ----------
    instructions
        Merge instructions (`MERGE_INSTRUCTION_SCHEMA`); rows of other sources are left out.
    source
        The CRM source to push to.
    connector
        Its connector.
    ledger
        The push ledger: instructions it holds as applied or conflicting are skipped, and
        with ``apply`` every outcome is recorded in it.
    apply
        Send the changes. Without it nothing is sent and the ledger is not written.
    progress
        Called with the report after each batch of instructions.
    """
    own = instructions.filter(pl.col("source") == source)
    report = PushReport(source=source, apply=apply, instructions=own.height)
    todo = ledger.to_apply(own)
    report.settled = own.height - todo.height
    rows = list(todo.sort("instruction_id").iter_rows(named=True))
    # Cards are read for many batches at once: a read is cheap next to a write batch.
    group_size = connector.batch_size * _BATCHES_PER_READ
    for offset in range(0, len(rows), group_size):
        group = rows[offset : offset + group_size]
        ids = [i for r in group for i in [r["survivor_record_id"], *(r["merged_record_ids"] or [])]]
        try:
            cards = connector.fetch(ids)
        except CrmHttpError as error:
            report.stopped = str(error)
            break
        steps: list[tuple[dict[str, Any], MergeStep]] = []
        for row in group:
            step = _step(row, cards)
            if step is not None:
                steps.append((row, step))
                continue
            report.failed += 1
            if apply:
                ledger.record(
                    *_key(row),
                    source=source,
                    status=PushStatus.FAILED,
                    answer={"error": f"survivor {row['survivor_record_id']} is not in the CRM"},
                )
        to_send: list[tuple[dict[str, Any], MergeStep]] = []
        for row, step in steps:
            if connector.plan(step):
                to_send.append((row, step))
                continue
            report.nothing_to_change += 1
            if apply:
                ledger.record(
                    *_key(row),
                    source=source,
                    status=PushStatus.APPLIED,
                    answer={
                        "nothing_to_change": "the CRM holds these values, or has no field",
                        "survivor_id": step.survivor.id,
                        "retired_ids": [],
                        "push_run": report.run,
                    },
                    snapshot=_snapshot(step),
                )
        steps = to_send
        if not apply:
            report.planned += [_planned(connector, step) for _, step in steps]
            continue
        for first in range(0, len(steps), connector.batch_size):
            batch = steps[first : first + connector.batch_size]
            if not _apply(batch, source=source, connector=connector, ledger=ledger, report=report):
                return report
            if progress is not None:
                progress(report)
    return report


def _apply(
    steps: list[tuple[dict[str, Any], MergeStep]],
    *,
    source: str,
    connector: CrmConnector,
    ledger: PushLedger,
    report: PushReport,
) -> bool:
    """Apply one batch, recording every outcome; False when the CRM could not be reached."""
    for row, step in steps:
        ledger.record(
            *_key(row),
            source=source,
            status=PushStatus.PENDING,
            answer={"push_run": report.run},
            snapshot=_snapshot(step),
        )
    try:
        outcomes = connector.apply([step for _, step in steps])
    except CrmHttpError as error:
        _log.warning("push to %s stopped: %s", source, error)
        for row, _ in steps:
            ledger.record(
                *_key(row),
                source=source,
                status=PushStatus.FAILED,
                answer={"error": str(error)},
            )
        report.failed += len(steps)
        report.stopped = str(error)
        return False
    outcomes = _verified(connector, [step for _, step in steps], outcomes)
    for (row, step), outcome in zip(steps, outcomes, strict=True):
        ledger.record(
            *_key(row),
            source=source,
            status=outcome.status,
            answer=_ledger_answer(step, outcome, report.run),
        )
        if outcome.status == PushStatus.APPLIED:
            report.applied += 1
        elif outcome.status == PushStatus.CONFLICT:
            report.conflicts += 1
            if outcome.manual_merge_url:
                report.conflict_links.append(outcome.manual_merge_url)
        else:
            report.failed += 1
    return True
