"""Pull a CRM's contacts into the JSON Lines export the pipeline reads as a source.

The first pull (or ``full=True``) reads every contact. Later pulls ask only for contacts
modified since the last one (minus a margin, ``pull_overlap_minutes``), replace those
rows in the export and add new ones. A modification-time filter cannot see deletions:
contacts a push merged away are dropped using the push ledger, and a full pull (run with
the semiannual sweep) drops everything else deleted in the CRM.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from dedup_pipeline.config import SourceConfig
from dedup_pipeline.crm.connector import CrmConnector
from dedup_pipeline.sinks._atomic import replace_atomically

__all__ = ["PULLED_CONTACT_SCHEMA", "PullReport", "pull_source", "pull_state_path"]

_LIST = pl.List(pl.String())

#: One row per contact in a pulled export (JSON Lines, one object per line).
PULLED_CONTACT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "first_name": pl.String(),
    "middle_name": pl.String(),
    "last_name": pl.String(),
    "company": pl.String(),
    "city": pl.String(),
    "phones": _LIST,
    "emails": _LIST,
    "deal_ids": _LIST,
    "tags": _LIST,
    "created_at": pl.String(),
    "updated_at": pl.String(),
}


@dataclass(frozen=True)
class PullReport:
    """What one pull did.

    Attributes
    ----------
    mode
        ``full`` or ``incremental``.
    read
        Contacts the CRM returned.
    added, changed, removed
        Rows new to the export, rows replaced, rows dropped (merged away or, in a full
        pull, no longer in the CRM).
    total
        Rows in the export now.
    since
        The modification time an incremental pull asked from.
    """

    source: str
    path: Path
    mode: str
    read: int
    added: int
    changed: int
    removed: int
    total: int
    since: datetime | None = None


def pull_state_path(path: Path) -> Path:
    """Where the pull of the export at ``path`` keeps its watermark."""
    return path.with_name(path.name + ".pull.json")


def _read_state(source: SourceConfig) -> dict[str, Any] | None:
    state_path = pull_state_path(source.path)
    if not (state_path.is_file() and source.path.is_file()):
        return None
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert source.crm is not None
    # Another CRM account behind the same file: start again from scratch.
    if state.get("kind") != source.crm.kind.value or state.get("url") != source.crm.url:
        return None
    return state


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PULLED_CONTACT_SCHEMA)


def pull_source(
    source: SourceConfig,
    connector: CrmConnector,
    *,
    full: bool = False,
    merged_away: Collection[str] = (),
    now: datetime | None = None,
) -> PullReport:
    """Pull ``source``'s CRM into ``source.path``.

    Parameters
    ----------
    source
        A source with a ``crm`` block.
    connector
        Its connector (`dedup_pipeline.crm.connect.open_connector`).
    full
        Read every contact even when an earlier pull left a watermark.
    merged_away
        Contact ids a push merged into others (`PushLedger.merged_away`): dropped from
        the export, as a modification-time filter never reports them.
    now
        The time the pull started (the next pull's watermark when nothing changed).
    """
    if source.crm is None:
        raise ValueError(f"source {source.name!r} has no 'crm' block")
    started = now or datetime.now(UTC)
    state = None if full else _read_state(source)
    since = None
    if state is not None:
        margin = timedelta(minutes=source.crm.pull_overlap_minutes)
        since = datetime.fromisoformat(state["watermark"]) - margin
    rows: list[dict[str, Any]] = []
    watermark = datetime.fromisoformat(state["watermark"]) if state is not None else None
    for page in connector.pull(updated_since=since):
        rows.extend(contact.as_json() for contact in page)
        stamps = [c.updated_at for c in page if c.updated_at is not None]
        if stamps and (watermark is None or max(stamps) > watermark):
            watermark = max(stamps)
    pulled = _frame(rows).unique("id", keep="last", maintain_order=True)
    previous = (
        pl.read_ndjson(source.path, schema=PULLED_CONTACT_SCHEMA)
        if source.path.is_file()
        else _frame([])
    )
    if state is None:
        merged = pulled
    else:
        merged = pl.concat([previous.join(pulled, on="id", how="anti"), pulled])
    dropped = pl.Series("id", list(merged_away), dtype=pl.String)
    kept = merged.filter(~pl.col("id").is_in(dropped.implode()))
    changed = int(previous["id"].is_in(pulled["id"].implode()).sum())

    source.path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(source.path, kept.write_ndjson)
    state_record = {
        "kind": source.crm.kind.value,
        "url": source.crm.url,
        "watermark": (watermark or started).isoformat(),
        "pulled_at": started.isoformat(),
    }
    replace_atomically(
        pull_state_path(source.path),
        lambda target: target.write_text(json.dumps(state_record, indent=2), encoding="utf-8"),
    )
    return PullReport(
        source=source.name,
        path=source.path,
        mode="full" if state is None else "incremental",
        read=pulled.height,
        added=pulled.height - changed,
        changed=changed,
        removed=previous.height + (pulled.height - changed) - kept.height,
        total=kept.height,
        since=since,
    )
