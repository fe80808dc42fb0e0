"""The review queue as a spreadsheet, and the decisions filled into it back again.

Many reviewers work in Excel: one row per record of each proposal, and three columns to
fill on the proposal's rows: ``decision`` (approve, reject or split), ``group`` (for a
split: the same label on records that belong together) and ``survivor`` (``x`` on the
record that should survive an approval). ``record_version`` tells which version of each
record the reviewer saw; a decision on a record that changes later is asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from dedup_pipeline.review.store import ReviewDecision
from dedup_pipeline.review.versions import record_versions
from dedup_pipeline.schema import require_columns
from dedup_pipeline.sinks.formulas import neutralize_formulas, restore_formulas

__all__ = ["SheetError", "SheetImport", "queue_sheet", "read_decision_sheet", "write_sheet"]

#: Columns a reviewer fills in.
FILLED = ("decision", "group", "survivor", "note")


class SheetError(ValueError):
    """A filled-in sheet cannot be read at all (wrong format, missing columns)."""


@dataclass(frozen=True)
class SheetImport:
    """Decisions read from a sheet, and the problems of rows that were not taken."""

    decisions: list[ReviewDecision]
    problems: list[str]


def queue_sheet(
    review_queue: pl.DataFrame, contacts: pl.DataFrame, clusters: pl.DataFrame
) -> pl.DataFrame:
    """One row per record of each proposal, by priority, with empty decision columns."""
    require_columns(
        review_queue,
        ["review_cluster_id", "record_ids", "priority", "reason"],
        table="review queue",
    )
    details = contacts.select(
        "record_id",
        "source",
        "source_record_id",
        "first_name",
        "last_name",
        "full_name",
        pl.col("phones_e164").cast(pl.List(pl.String)).list.join(", ").alias("phones"),
        pl.col("emails_normalized").cast(pl.List(pl.String)).list.join(", ").alias("emails"),
        "company",
        "city",
    )
    return (
        review_queue.select("priority", "review_cluster_id", "reason", "record_ids")
        .explode("record_ids")
        .rename({"record_ids": "record_id"})
        .join(details, on="record_id", how="left")
        .join(clusters.select("record_id", "cluster_id", "outcome"), on="record_id", how="left")
        .join(record_versions(contacts), on="record_id", how="left")
        .sort("priority", "record_id")
        .with_columns(*(pl.lit(None, dtype=pl.String).alias(column) for column in FILLED))
    )


def write_sheet(sheet: pl.DataFrame, path: Path) -> Path:
    """Write the sheet as XLSX or CSV, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        sheet.write_excel(path, worksheet="review queue", autofit=True)
    elif path.suffix.lower() == ".csv":
        # XLSX cells are written as text; a CSV cell starting with "=" would run.
        neutralize_formulas(sheet).write_csv(path)
    else:
        raise SheetError(f"{path}: write .xlsx or .csv")
    return path


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".xlsx":
            frame = pl.read_excel(path, infer_schema_length=0)
        elif path.suffix.lower() == ".csv":
            frame = pl.read_csv(path, infer_schema_length=0)
            frame = frame.with_columns(
                restore_formulas(pl.col(c)).alias(c)
                for c in ("review_cluster_id", "record_id", "record_version")
                if c in frame.columns
            )
        else:
            raise SheetError(f"{path}: read .xlsx or .csv")
    except SheetError:
        raise
    except Exception as exc:  # the readers raise their own types for broken files
        raise SheetError(f"{path}: cannot read: {exc}") from None
    missing = [c for c in ("review_cluster_id", "record_id", "decision") if c not in frame.columns]
    if missing:
        raise SheetError(f"{path}: missing column(s): {', '.join(missing)}")
    for column in FILLED:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    # Spreadsheet row numbers: the header is row 1.
    return frame.with_row_index("row", offset=2).with_columns(
        pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in FILLED
    )


def _versions_seen(rows: pl.DataFrame) -> dict[str, str] | None:
    """The record versions a sheet was exported with, or None for a sheet without them."""
    if "record_version" not in rows.columns:
        return None
    seen = rows.select("record_id", "record_version").drop_nulls()
    return dict(seen.iter_rows()) or None


def read_decision_sheet(path: Path, *, reviewer: str, review_queue: pl.DataFrame) -> SheetImport:
    """Turn the filled-in rows of a queue sheet into decisions.

    A proposal is taken when all its rows agree on one decision and the proposal still
    has exactly the records of the sheet (a run since the export may have changed it).
    Proposals left blank are skipped; every other problem is reported with the file, the
    row and the column, and that proposal is not taken.

    Raises
    ------
    SheetError
        When the file cannot be read or lacks the key columns.
    """
    sheet = _read(path)
    current = dict(review_queue.select("review_cluster_id", "record_ids").iter_rows())
    decisions: list[ReviewDecision] = []
    problems: list[str] = []
    # One loop step per proposal a person filled in: a handful, not the records.
    for (proposal,), rows in sheet.group_by("review_cluster_id", maintain_order=True):
        filled = rows.drop_nulls("decision")
        if filled.is_empty():
            continue
        first_row = int(filled.get_column("row").min())
        where = f"{path}: row {first_row}"
        actions = set(filled.get_column("decision").str.to_lowercase())
        if len(actions) > 1 or filled.height != rows.height:
            problems.append(
                f"{where}, decision: proposal {proposal} needs one decision on every row"
            )
            continue
        action = actions.pop()
        record_ids = rows.get_column("record_id").to_list()
        if proposal not in current or sorted(current[proposal]) != sorted(record_ids):
            problems.append(
                f"{where}, record_id: proposal {proposal} changed since the export; "
                "export the queue again"
            )
            continue
        survivors = rows.filter(pl.col("survivor").is_not_null()).get_column("record_id")
        groups = None
        if action == "split":
            labelled = rows.filter(pl.col("group").is_not_null())
            if labelled.height != rows.height:
                missing = rows.filter(pl.col("group").is_null()).get_column("row").to_list()
                problems.append(
                    f"{path}: row {missing[0]}, group: a split needs a group on every row"
                )
                continue
            groups = [
                ids
                for _, ids in labelled.group_by("group", maintain_order=True)
                .agg("record_id")
                .iter_rows()
            ]
        if survivors.len() > 1:
            problems.append(f"{where}, survivor: mark one survivor at most")
            continue
        try:
            decisions.append(
                ReviewDecision(
                    action=action,
                    record_ids=record_ids,
                    groups=groups,
                    survivor_record_id=survivors[0] if survivors.len() else None,
                    reviewer=reviewer,
                    review_cluster_id=proposal,
                    note=next(iter(rows.get_column("note").drop_nulls()), None),
                    record_versions=_versions_seen(rows),
                )
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "decision"
            problems.append(f"{where}, {field}: {error['msg']}")
    return SheetImport(decisions=decisions, problems=problems)
