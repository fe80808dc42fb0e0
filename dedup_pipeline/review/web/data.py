"""What the review app shows: the Parquet files of the last run, read without the warehouse.

A run exports ``review_queue``, ``clusters``, ``contacts`` and ``scored_pairs`` as Parquet into
``output.directory`` (`dedup_pipeline.sinks.write_exports`). The app reads those files, never
the DuckDB warehouse, whose write lock a running pipeline holds. A file is read again when its
modification time or size changes; while a run is rewriting a file that cannot be read yet,
the previous version is kept.

A proposal counts as decided when one of the reviewers' latest decisions covers all of its
records, as in `dedup_pipeline.review.decide`: a proposal whose record set changed comes back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import polars as pl

from dedup_pipeline.match.saved import MODEL_FILE
from dedup_pipeline.review.decide import CLUSTER_SCHEMA, REVIEW_QUEUE_SCHEMA
from dedup_pipeline.review.shapes import Shape
from dedup_pipeline.review.web.levels import LevelReader, read_levels
from dedup_pipeline.schema import SchemaMismatchError, require_columns

__all__ = [
    "CONTACT_FIELDS",
    "EXPORTED_TABLES",
    "SORT_KEYS",
    "ExportedRun",
    "ExportsUnavailable",
    "FieldRow",
    "PairTable",
    "Proposal",
    "QueueView",
    "RecordColumn",
    "RunSnapshot",
    "covering_decision",
    "decided_proposals",
    "load_proposal",
]

#: The exported tables the app reads, each from ``<output.directory>/<name>.parquet``.
EXPORTED_TABLES = ("review_queue", "clusters", "contacts", "scored_pairs")

#: Contact fields shown side by side: column of ``contacts.parquet`` -> label.
CONTACT_FIELDS: dict[str, str] = {
    "source": "Source",
    "source_record_id": "Source record id",
    "created_at": "Created",
    "updated_at": "Updated",
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "full_name": "Full name",
    "phones": "Phones",
    "emails": "E-mails",
    "company": "Company",
    "city": "City",
}

#: Fields that identify a record rather than describe the client: never highlighted.
_NOT_COMPARED = frozenset({"source_record_id", "created_at", "updated_at"})

_SCORED_PAIR_COLUMNS = ("record_id_l", "record_id_r", "match_probability")

#: Queue sort keys: query value -> (column, descending by default).
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "priority": ("priority", False),
    "size": ("record_count", True),
    "confidence": ("confidence", False),
}

#: How the sort keys read in the queue's menu.
SORT_LABELS: dict[str, str] = {
    "priority": "priority",
    "size": "size",
    "confidence": "weakest link",
}

#: Queue filters by why a proposal was flagged: query value -> label.
FLAG_LABELS: dict[str, str] = {
    Shape.DISJOINT_IDENTIFIERS: "no shared phone or e-mail",
    Shape.LOOSELY_CONNECTED: "loosely connected",
    Shape.OVERSIZED: "oversized",
    Shape.RECORDS_CHANGED: "records changed",
    Shape.REVIEW_BAND: "review band",
}

#: Names shown per proposal in the queue before "+N more".
_NAME_PREVIEW = 3


class ExportsUnavailable(RuntimeError):
    """The run's exported files are missing, unreadable or of an unexpected shape."""


@dataclass(frozen=True)
class RunSnapshot:
    """The exported tables as last read.

    Attributes
    ----------
    review_queue
        `REVIEW_QUEUE_SCHEMA` plus ``names`` and ``sources`` (lists, from the contacts) and
        ``search`` (lower-case text the queue filter searches).
    clusters
        `CLUSTER_SCHEMA`: every record's client cluster and its outcome.
    contacts
        The normalized contacts (one row per source record).
    scored_pairs
        Scored candidate pairs with their comparison weights (``mw_*``).
    levels
        The run's model levels, to read those weights back in words.
    """

    review_queue: pl.DataFrame
    clusters: pl.DataFrame
    contacts: pl.DataFrame
    scored_pairs: pl.DataFrame
    levels: LevelReader = field(default_factory=lambda: LevelReader({}))


def _display_name() -> pl.Expr:
    full = pl.col("full_name").str.strip_chars()
    parts = pl.concat_str(
        [pl.col(name).str.strip_chars() for name in ("first_name", "middle_name", "last_name")],
        separator=" ",
        ignore_nulls=True,
    )
    return (
        pl.when(full.str.len_chars() > 0)
        .then(full)
        .when(parts.str.len_chars() > 0)
        .then(parts)
        .alias("display_name")
    )


def _enrich_queue(queue: pl.DataFrame, contacts: pl.DataFrame) -> pl.DataFrame:
    """Add the proposal's names and sources, and the text the queue filter searches."""
    people = contacts.select("record_id", "source", _display_name())
    members = (
        queue.select("review_cluster_id", "record_ids")
        .explode("record_ids")
        .join(people, left_on="record_ids", right_on="record_id", how="left")
        .group_by("review_cluster_id", maintain_order=True)
        .agg(
            names=pl.col("display_name").drop_nulls().unique(maintain_order=True),
            sources=pl.col("source").drop_nulls().unique(maintain_order=True),
        )
    )
    return (
        queue.select(list(REVIEW_QUEUE_SCHEMA))
        .join(members, on="review_cluster_id", how="left")
        .with_columns(
            search=pl.concat_str(
                [
                    pl.col("names").list.join(" "),
                    pl.col("reason"),
                    pl.col("sources").list.join(" "),
                ],
                separator=" ",
                ignore_nulls=True,
            ).str.to_lowercase()
        )
    )


class ExportedRun:
    """The exported Parquet files of a run, re-read when they change.

    Parameters
    ----------
    directory
        The run's ``output.directory``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[tuple[int, int], pl.DataFrame]] = {}
        self._snapshot: RunSnapshot | None = None
        self._snapshot_stamps: tuple[tuple[int, int], ...] | None = None

    def path(self, table: str) -> Path:
        """The Parquet file of ``table``."""
        return self.directory / f"{table}.parquet"

    def _read(self, table: str) -> tuple[tuple[int, int], pl.DataFrame]:
        path = self.path(table)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ExportsUnavailable(
                f"{path} does not exist: run the pipeline (dedup run) to export it"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._frames.get(table)
        if cached is not None and cached[0] == stamp:
            return cached
        try:
            frame = pl.read_parquet(path)
        except Exception as error:  # a run may be rewriting it right now
            if cached is not None:
                return cached
            raise ExportsUnavailable(f"cannot read {path}: {error}") from error
        self._frames[table] = (stamp, frame)
        return stamp, frame

    def snapshot(self) -> RunSnapshot:
        """The current tables; files changed since the last call are read again.

        Raises
        ------
        ExportsUnavailable
            If a file is missing, cannot be read, or lacks columns the app needs.
        """
        with self._lock:
            read = {table: self._read(table) for table in EXPORTED_TABLES}
            stamps = tuple(read[table][0] for table in EXPORTED_TABLES)
            if self._snapshot is not None and stamps == self._snapshot_stamps:
                return self._snapshot
            frames = {table: frame for table, (_, frame) in read.items()}
            try:
                require_columns(frames["review_queue"], REVIEW_QUEUE_SCHEMA, table="review_queue")
                require_columns(frames["clusters"], CLUSTER_SCHEMA, table="clusters")
                require_columns(
                    frames["contacts"], ["record_id", *CONTACT_FIELDS], table="contacts"
                )
                require_columns(frames["scored_pairs"], _SCORED_PAIR_COLUMNS, table="scored_pairs")
            except SchemaMismatchError as error:
                raise ExportsUnavailable(f"{self.directory}: {error}") from error
            snapshot = RunSnapshot(
                review_queue=_enrich_queue(frames["review_queue"], frames["contacts"]),
                clusters=frames["clusters"],
                contacts=frames["contacts"],
                scored_pairs=frames["scored_pairs"],
                levels=read_levels(self.directory / MODEL_FILE),
            )
            self._snapshot, self._snapshot_stamps = snapshot, stamps
            return snapshot


# -- decisions --------------------------------------------------------------------------------


def _decided_sets(decisions: pl.DataFrame) -> list[frozenset[str]]:
    return [frozenset(ids) for ids in decisions.get_column("record_ids").to_list()]


def covering_decision(record_ids: Iterable[str], decisions: pl.DataFrame) -> dict[str, Any] | None:
    """The most recent decision whose records include all of ``record_ids``, if any.

    Parameters
    ----------
    record_ids
        Records of a proposal.
    decisions
        Latest decisions (`dedup_pipeline.review.DecisionStore.decisions`), oldest first.
    """
    wanted = frozenset(record_ids)
    for row in reversed(decisions.rows(named=True)):
        if wanted <= frozenset(row["record_ids"]):
            return row
    return None


def decided_proposals(queue: pl.DataFrame, decisions: pl.DataFrame) -> set[str]:
    """``review_cluster_id`` of the proposals a decision covers completely.

    Parameters
    ----------
    queue
        Review proposals (``review_cluster_id``, ``record_ids``).
    decisions
        Latest decisions (`dedup_pipeline.review.DecisionStore.decisions`).
    """
    decided = _decided_sets(decisions)
    by_record: dict[str, list[frozenset[str]]] = {}
    for records in decided:
        for record_id in records:
            by_record.setdefault(record_id, []).append(records)
    covered = set()
    for proposal_id, record_ids in queue.select("review_cluster_id", "record_ids").iter_rows():
        if not record_ids:
            continue
        members = set(record_ids)
        if any(members <= records for records in by_record.get(record_ids[0], ())):
            covered.add(proposal_id)
    return covered


# -- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueView:
    """Which proposals the queue shows and in what order (from query parameters).

    Attributes
    ----------
    text
        Case-insensitive text searched in the proposal's names, reason and sources.
    flag
        Show only proposals with this flag (a key of `FLAG_LABELS`), or all when empty.
    sort
        ``priority`` (ascending), ``size`` (records, descending) or ``confidence``
        (the proposal's weakest link, weakest first); ties keep the priority order.

    order
        ``asc`` or ``desc`` to override the sort key's default direction.
    """

    text: str = ""
    flag: str = ""
    sort: str = "priority"
    order: Literal["asc", "desc"] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> QueueView:
        """Read ``q``, ``flag``, ``sort`` and ``order``; unknown values mean the default."""
        sort = params.get("sort", "priority")
        raw_order = params.get("order")
        order: Literal["asc", "desc"] | None = (
            "asc" if raw_order == "asc" else "desc" if raw_order == "desc" else None
        )
        return cls(
            text=params.get("q", "").strip(),
            flag=flag if (flag := params.get("flag", "")) in FLAG_LABELS else "",
            sort=sort if sort in SORT_KEYS else "priority",
            order=order,
        )

    @property
    def descending(self) -> bool:
        """Whether the sort key is sorted in descending order."""
        if self.order is None:
            return SORT_KEYS[self.sort][1]
        return self.order == "desc"

    def params(self) -> dict[str, str]:
        """The query parameters that differ from the defaults."""
        params = {}
        if self.text:
            params["q"] = self.text
        if self.flag:
            params["flag"] = self.flag
        if self.sort != "priority":
            params["sort"] = self.sort
        if self.order is not None:
            params["order"] = self.order
        return params

    def query(self) -> str:
        """``?q=...&sort=...`` for links that keep this view, or an empty string."""
        params = self.params()
        return "?" + urlencode(params) if params else ""

    def apply(self, queue: pl.DataFrame, *, hide: Iterable[str] = ()) -> pl.DataFrame:
        """Filter and sort an enriched queue (`RunSnapshot.review_queue`).

        Parameters
        ----------
        queue
            The enriched review queue.
        hide
            ``review_cluster_id`` values to leave out (the decided proposals).
        """
        hidden = list(hide)
        if hidden:
            queue = queue.filter(~pl.col("review_cluster_id").is_in(hidden))
        if self.text:
            queue = queue.filter(
                pl.col("search").str.contains(self.text.lower(), literal=True).fill_null(False)
            )
        if self.flag:
            queue = queue.filter(pl.col("flags").list.contains(self.flag))
        column = SORT_KEYS[self.sort][0]
        return queue.sort(
            [column, "priority", "review_cluster_id"],
            descending=[self.descending, False, False],
            nulls_last=True,
        )


# -- one proposal -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordColumn:
    """One record of a proposal with its current client cluster.

    ``split_group`` numbers the proposal's client clusters from 1 in order of appearance: the
    split group the record starts in.
    """

    record_id: str
    known: bool
    split_group: int = 1
    cluster_id: str | None = None
    cluster_size: int | None = None
    outcome: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class FieldRow:
    """One contact field across the proposal's records.

    ``differs[i]`` is True when record ``i`` has another value than the first record.
    """

    name: str
    label: str
    values: list[str]
    differs: list[bool]


@dataclass(frozen=True)
class PairTable:
    """The scored pairs inside a proposal, strongest first.

    ``comparisons`` are (comparison, column header) of the comparisons the export
    weighs; each row's ``levels`` holds a `PairLevel` per comparison: its level in words
    and what it weighed.
    """

    comparisons: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    has_match_key: bool = False
    has_names_conflict: bool = False
    has_match_weight: bool = False


@dataclass(frozen=True)
class Proposal:
    """A review proposal with everything its page shows."""

    review_cluster_id: str
    record_ids: list[str]
    record_count: int
    client_cluster_count: int
    confidence: float | None
    reason: str
    priority: int
    records: list[RecordColumn] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)
    pairs: PairTable = field(default_factory=lambda: PairTable([], []))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value if item is not None)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(sorted(str(item) for item in value if item is not None))
    if isinstance(value, str):
        return value.strip() or None
    return value


def _field_rows(record_ids: Sequence[str], contacts: pl.DataFrame) -> list[FieldRow]:
    by_id = {row["record_id"]: row for row in contacts.rows(named=True)}
    rows = []
    for name, label in CONTACT_FIELDS.items():
        raw = [by_id.get(record_id, {}).get(name) for record_id in record_ids]
        first = _comparable(raw[0]) if raw else None
        differs = [
            index > 0 and name not in _NOT_COMPARED and _comparable(value) != first
            for index, value in enumerate(raw)
        ]
        rows.append(FieldRow(name, label, [_text(value) for value in raw], differs))
    return rows


def _pair_table(
    record_ids: Sequence[str], scored_pairs: pl.DataFrame, levels: LevelReader
) -> PairTable:
    inside = scored_pairs.filter(
        pl.col("record_id_l").is_in(list(record_ids))
        & pl.col("record_id_r").is_in(list(record_ids))
    ).sort(["match_probability", "record_id_l", "record_id_r"], descending=[True, False, False])
    comparisons = levels.headers([name for name in scored_pairs.columns if name.startswith("mw_")])
    rows = [
        {**row, "levels": {name: levels.read(name, row) for name, _ in comparisons}}
        for row in inside.rows(named=True)
    ]
    return PairTable(
        comparisons=comparisons,
        rows=rows,
        has_match_key="match_key" in scored_pairs.columns,
        has_names_conflict="names_conflict" in scored_pairs.columns,
        has_match_weight="match_weight" in scored_pairs.columns,
    )


def load_proposal(snapshot: RunSnapshot, review_cluster_id: str) -> Proposal | None:
    """The proposal ``review_cluster_id`` of the snapshot's queue, or None when absent.

    Parameters
    ----------
    snapshot
        The exported tables.
    review_cluster_id
        The proposal's id in ``review_queue``.
    """
    match = snapshot.review_queue.filter(pl.col("review_cluster_id") == review_cluster_id)
    if match.is_empty():
        return None
    row = match.row(0, named=True)
    record_ids: list[str] = list(row["record_ids"])
    contacts = snapshot.contacts.filter(pl.col("record_id").is_in(record_ids))
    known = set(contacts.get_column("record_id").to_list())
    clusters = {
        cluster["record_id"]: cluster
        for cluster in snapshot.clusters.filter(pl.col("record_id").is_in(record_ids)).rows(
            named=True
        )
    }
    records = []
    group_of: dict[str, int] = {}
    for record_id in record_ids:
        cluster = clusters.get(record_id, {})
        cluster_id = cluster.get("cluster_id") or record_id
        records.append(
            RecordColumn(
                record_id=record_id,
                known=record_id in known,
                split_group=group_of.setdefault(cluster_id, len(group_of) + 1),
                cluster_id=cluster.get("cluster_id"),
                cluster_size=cluster.get("cluster_size"),
                outcome=cluster.get("outcome"),
                confidence=cluster.get("confidence"),
            )
        )
    return Proposal(
        review_cluster_id=row["review_cluster_id"],
        record_ids=record_ids,
        record_count=row["record_count"],
        client_cluster_count=row["client_cluster_count"],
        confidence=row["confidence"],
        reason=row["reason"],
        priority=row["priority"],
        records=records,
        fields=_field_rows(record_ids, contacts),
        pairs=_pair_table(record_ids, snapshot.scored_pairs, snapshot.levels),
    )
