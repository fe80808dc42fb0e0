"""Reviewers' decisions as constraints on clustering: must-link and cannot-link.

An approval joins a proposal's records into one client; a split joins each group and keeps
the groups apart; a rejection keeps every record apart. Records that are not in this run
(deleted at the source) are ignored. A decision on a record whose content changed since
(`dedup_pipeline.review.versions`) is set aside, so the proposal can be asked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import polars as pl

from dedup_pipeline.match.hygiene import split_conflicting_clusters
from dedup_pipeline.schema import require_columns

__all__ = [
    "LABELLED_PAIR_SCHEMA",
    "ReviewConstraints",
    "apply_constraints",
    "constraints_from_decisions",
    "labelled_pairs",
]

_PAIRS = {"record_id_l": pl.String, "record_id_r": pl.String}


@dataclass(frozen=True)
class ReviewConstraints:
    """Must-link groups and cannot-link pairs, the record sets already decided, and those
    whose decision was set aside because a record changed since."""

    must_link: list[list[str]]
    cannot_link: pl.DataFrame
    decided: list[frozenset[str]]
    changed: list[frozenset[str]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to apply."""
        return not self.must_link and self.cannot_link.is_empty() and not self.decided


def _changed_since(decisions: pl.DataFrame, versions: pl.DataFrame) -> set[int]:
    """Row numbers of decisions naming a record whose version is now different."""
    seen = (
        decisions.select("record_versions")
        .with_row_index("decision")
        .explode("record_versions")
        .drop_nulls("record_versions")
        .unnest("record_versions")
    )
    differing = seen.join(versions, on="record_id", suffix="_now").filter(
        pl.col("record_version") != pl.col("record_version_now")
    )
    return set(differing.get_column("decision").to_list())


def constraints_from_decisions(
    decisions: pl.DataFrame | None,
    present: pl.Series,
    versions: pl.DataFrame | None = None,
) -> ReviewConstraints:
    """Turn the latest decision per cluster into constraints over present records.

    Parameters
    ----------
    decisions
        ``action``, ``record_ids`` and ``groups`` per decision (the decisions store's
        table, with ``record_versions`` when known), or None.
    present
        The record ids of this run.
    versions
        ``record_id`` and ``record_version`` of this run's records (`record_versions`). A
        decision that saw another version of one of its records is set aside.
    """
    empty = pl.DataFrame(schema=_PAIRS)
    if decisions is None or decisions.is_empty():
        return ReviewConstraints(must_link=[], cannot_link=empty, decided=[])
    require_columns(decisions, ["action", "record_ids", "groups"], table="decisions")
    here = set(present.to_list())
    stale = (
        _changed_since(decisions, versions)
        if versions is not None and "record_versions" in decisions.columns
        else set()
    )
    must: list[list[str]] = []
    cannot: list[tuple[str, str]] = []
    decided: list[frozenset[str]] = []
    changed: list[frozenset[str]] = []
    # Decisions are few (people make them): a loop over them, not over records.
    for index, (action, record_ids, groups) in enumerate(
        decisions.select("action", "record_ids", "groups").iter_rows()
    ):
        if index in stale:
            changed.append(frozenset(record_ids))
            continue
        records = sorted(r for r in record_ids if r in here)
        decided.append(frozenset(record_ids))
        if action == "approve":
            must.append(records)
        elif action == "reject":
            cannot.extend(combinations(records, 2))
        elif action == "split":
            parts = [sorted(r for r in group if r in here) for group in groups or []]
            must.extend(part for part in parts if len(part) > 1)
            for a, b in combinations(parts, 2):
                cannot.extend((min(x, y), max(x, y)) for x in a for y in b)
    cannot_link = pl.DataFrame(cannot, schema=_PAIRS, orient="row").unique()
    return ReviewConstraints(
        must_link=[group for group in must if len(group) > 1],
        cannot_link=cannot_link,
        decided=decided,
        changed=changed,
    )


def apply_constraints(
    clusters: pl.DataFrame, edges: pl.DataFrame, constraints: ReviewConstraints
) -> tuple[pl.DataFrame, pl.Series]:
    """Split clusters at cannot-links, then join must-linked records.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id`` per record.
    edges
        The pairs that formed the clusters (for rebuilding a split cluster).
    constraints
        From `constraints_from_decisions`.

    Returns
    -------
    tuple
        The new ``clusters`` and the ids of clusters a reviewer joined.
    """
    split = split_conflicting_clusters(clusters, edges, constraints.cannot_link)
    if not constraints.must_link:
        return split, pl.Series("cluster_id", [], dtype=pl.String)
    cluster_of = dict(split.select("record_id", "cluster_id").iter_rows())
    parent: dict[str, str] = {}

    def find(cluster: str) -> str:
        while parent.get(cluster, cluster) != cluster:
            cluster = parent[cluster]
        return cluster

    for group in constraints.must_link:
        roots = sorted({find(cluster_of[record]) for record in group})
        for root in roots[1:]:
            parent[root] = roots[0]
    joined = split.with_columns(
        pl.col("cluster_id").replace_strict(
            {cluster: find(cluster) for cluster in set(cluster_of.values())},
            return_dtype=pl.String,
        )
    )
    approved = pl.Series(
        "cluster_id",
        sorted({find(cluster_of[group[0]]) for group in constraints.must_link}),
        dtype=pl.String,
    )
    return joined, approved


#: Reviewer-labelled record pairs (Splink's ``clerical_match_score``: 1 match, 0 not).
LABELLED_PAIR_SCHEMA: dict[str, pl.DataType] = {
    "record_id_l": pl.String(),
    "record_id_r": pl.String(),
    "clerical_match_score": pl.Float64(),
}


def labelled_pairs(decisions: pl.DataFrame) -> pl.DataFrame:
    """Every record pair a decision speaks for: approved or in one split group 1, else 0.

    Parameters
    ----------
    decisions
        ``action``, ``record_ids`` and ``groups`` per decision (latest per proposal).

    Returns
    -------
    polars.DataFrame
        `LABELLED_PAIR_SCHEMA`, one row per pair with ``record_id_l < record_id_r``; when
        two decisions label one pair, the later one (the later row) counts.
    """
    require_columns(decisions, ["action", "record_ids", "groups"], table="decisions")
    rows: list[tuple[str, str, float]] = []
    for action, record_ids, groups in decisions.select(
        "action", "record_ids", "groups"
    ).iter_rows():
        group_of = {
            record: index for index, group in enumerate(groups or [record_ids]) for record in group
        }
        for left, right in combinations(sorted(record_ids), 2):
            same = action != "reject" and group_of.get(left) == group_of.get(right)
            rows.append((left, right, 1.0 if same else 0.0))
    frame = pl.DataFrame(rows, schema=LABELLED_PAIR_SCHEMA, orient="row")
    return frame.unique(["record_id_l", "record_id_r"], keep="last", maintain_order=True)
