"""Cluster hygiene: a cluster whose members include two different people falls apart.

Connected components chain: "Mary Smith" ~ "Mary" ~ "Mary Morris" puts two colleagues in
one cluster although no pair of theirs was ever accepted. Every cluster is checked for
*cannot-link* pairs (names of different people anywhere inside it); a cluster that has one
is rebuilt greedily from its strongest pairs, joining two parts only when no cannot-link
pair spans them. What cannot be joined stays apart; a reviewer sees the parts together
when pairs above the review threshold link them.
"""

from __future__ import annotations

import polars as pl

__all__ = ["split_conflicting_clusters"]


class _Parts:
    """Union-find over the records of one cluster, refusing unions across cannot-links."""

    def __init__(self, records: list[str], cannot_link: set[tuple[str, str]]) -> None:
        self.parent = {record: record for record in records}
        self.members = {record: [record] for record in records}
        self.cannot_link = cannot_link

    def find(self, record: str) -> str:
        root = record
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[record] != root:
            self.parent[record], record = root, self.parent[record]
        return root

    def join(self, left: str, right: str) -> None:
        a, b = self.find(left), self.find(right)
        if a == b:
            return
        if any(
            (min(x, y), max(x, y)) in self.cannot_link
            for x in self.members[a]
            for y in self.members[b]
        ):
            return
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members.pop(b))


def split_conflicting_clusters(
    clusters: pl.DataFrame, edges: pl.DataFrame, cannot_link: pl.DataFrame
) -> pl.DataFrame:
    """Split every cluster that contains a cannot-link pair.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id``, one row per record.
    edges
        The pairs that formed the clusters: ``record_id_l``, ``record_id_r`` and
        ``match_probability``.
    cannot_link
        ``record_id_l`` and ``record_id_r`` of pairs that must not share a cluster.

    Returns
    -------
    polars.DataFrame
        ``clusters`` with the conflicting clusters replaced by their parts; a part's id is
        its smallest record id.
    """
    located = cannot_link.join(
        clusters.rename({"record_id": "record_id_l", "cluster_id": "cluster_l"}),
        on="record_id_l",
    ).join(
        clusters.rename({"record_id": "record_id_r", "cluster_id": "cluster_r"}),
        on="record_id_r",
    )
    inside = located.filter(pl.col("cluster_l") == pl.col("cluster_r"))
    if inside.is_empty():
        return clusters
    bad = inside.get_column("cluster_l").unique()
    members = clusters.filter(pl.col("cluster_id").is_in(bad.implode()))
    cluster_of = dict(members.iter_rows())
    links = {
        (min(left, right), max(left, right))
        for left, right in inside.select("record_id_l", "record_id_r").iter_rows()
    }
    # Strongest pairs first, ties broken by ids so the result does not depend on row order.
    ordered = (
        edges.filter(pl.col("record_id_l").is_in(members["record_id"].implode()))
        .sort(
            ["match_probability", "record_id_l", "record_id_r"],
            descending=[True, False, False],
        )
        .select("record_id_l", "record_id_r")
    )
    by_cluster: dict[str, _Parts] = {}
    for cluster, records in members.group_by("cluster_id").agg("record_id").iter_rows():
        by_cluster[cluster] = _Parts(sorted(records), links)
    # A loop over the edges of the few conflicting clusters only: the greedy order is
    # inherently sequential.
    for left, right in ordered.iter_rows():
        cluster = cluster_of.get(left)
        if cluster is not None and cluster_of.get(right) == cluster:
            by_cluster[cluster].join(left, right)
    parts = [
        (record, min(parts.members[parts.find(record)]))
        for parts in by_cluster.values()
        for record in parts.parent
    ]
    rebuilt = pl.DataFrame(
        parts, schema={"record_id": pl.String, "part_id": pl.String}, orient="row"
    )
    return (
        clusters.join(rebuilt, on="record_id", how="left")
        .with_columns(pl.coalesce("part_id", "cluster_id").alias("cluster_id"))
        .drop("part_id")
    )
