"""Cluster shapes that no machine should merge alone.

Splink scores pairs; a cluster is what the pairs add up to, and some clusters look wrong as
a whole even when each pair looks right:

- **disjoint identifiers**: a cluster of three or more records falls into groups that share
  no phone or e-mail with each other, and each group has its own. The groups were joined by
  names and near-miss e-mails only (two "Sergei Ivanov"s with ``ivanovs@`` and ``sivanov@``
  at the same provider). Each group is merged on its own; joining them is left to a
  reviewer. A pair is not inspected: Splink compared those two records directly, differing
  phones and e-mails included. Groups tied by a pair that would be merged on its names,
  patronymic, company and city alone are one group: a client who came back with a second
  mobile and a work address is still one client.
- **loosely connected**: a cluster of four or more records in which few record pairs are
  strong (``decision.min_cluster_density``). Chains like this form when a record resembles
  two clients at once. It is not merged as a whole.

A cluster that is loosely connected or too large is merged only in its *tight cores*
(`tight_cores`): the weakest pairs are dropped, a step at a time, until each part that is
still connected is small and dense enough. A client with twenty records and a few typos
keeps its well-tied records together; the record that resembled two clients falls out
between them, and a reviewer sees the parts side by side.

The identifier groups are found by label propagation over shared values, a few vectorised
passes (one per hop inside the largest cluster), not a loop over records.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dedup_pipeline.graph import connected_components_of
from dedup_pipeline.match.hygiene import split_conflicting_clusters

__all__ = ["ClusterShapes", "Shape", "identifier_groups", "inspect_cluster_shapes", "tight_cores"]


class Shape:
    """Why a cluster was sent to review (plain strings in the review queue's ``flags``)."""

    REVIEW_BAND = "review_band"
    OVERSIZED = "oversized"
    LOOSELY_CONNECTED = "loosely_connected"
    DISJOINT_IDENTIFIERS = "disjoint_identifiers"
    #: Not a shape: a reviewer decided on these records, and one of them changed since.
    RECORDS_CHANGED = "records_changed"


#: Column of ``edges``: the pair would be merged on its names, patronymic, company and city
#: alone, its phones and e-mails set aside. Such a pair joins identifier groups.
STRONG_WITHOUT_IDENTIFIERS = "strong_without_identifiers"

#: Clusters at least this large are split at disjoint identifier groups (see above).

MIN_SPLIT_CLUSTER_SIZE = 3

#: Clusters at least this large can be loosely connected (a chain of three is normal: a web
#: lead with a phone, a CRM card with phone and e-mail, a second card with the e-mail).
MIN_LOOSE_CLUSTER_SIZE = 4

#: `tight_cores` raises the bar for a pair this many times, each time halving the odds
#: that a pair kept is a mismatch; 40 halvings take 0.98 past what a float can tell from 1.
CORE_STEPS = 40


@dataclass(frozen=True)
class ClusterShapes:
    """Output of `inspect_cluster_shapes`.

    Attributes
    ----------
    clusters
        ``record_id`` and ``cluster_id``: clusters with disjoint identifier groups replaced
        by their parts.
    flags
        ``record_id`` and ``flag`` (a `Shape`) for every record of a flagged cluster.
    held
        Record ids whose cluster must not be merged automatically (loosely connected).
    """

    clusters: pl.DataFrame
    flags: pl.DataFrame
    held: pl.Series


def identifier_groups(
    clusters: pl.DataFrame, contacts: pl.DataFrame, joined: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Within each cluster, group the records that share a phone or e-mail, transitively.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id``.
    contacts
        ``record_id``, ``phones_e164`` and ``emails_normalized`` (lists).
    joined
        ``record_id_l`` and ``record_id_r`` of pairs that join their records' groups
        whatever their phones and e-mails (pairs strong enough on everything else).

    Returns
    -------
    polars.DataFrame
        ``record_id``, ``cluster_id`` and ``group`` (the smallest record id of its group) for
        every record with at least one phone or e-mail; records without any are left out.
    """
    members = clusters.select("record_id", "cluster_id").join(
        contacts.select("record_id", "phones_e164", "emails_normalized"), on="record_id"
    )
    values = (
        pl.concat(
            [
                members.select("record_id", "cluster_id", value=pl.col("phones_e164")),
                members.select("record_id", "cluster_id", value=pl.col("emails_normalized")),
            ]
        )
        .explode("value")
        .drop_nulls("value")
        .unique()
    )
    # A value joins records only inside its cluster, so its node is keyed by both.
    keyed = values.select("record_id", value=pl.concat_str("cluster_id", "value", separator="\x1f"))
    if joined is not None and not joined.is_empty():
        with_ids = values.select("record_id").unique()
        inside = joined.join(
            members.select(record_id_l="record_id", cluster_l="cluster_id"), on="record_id_l"
        ).join(members.select(record_id_r="record_id", cluster_r="cluster_id"), on="record_id_r")
        inside = inside.filter(
            (pl.col("cluster_l") == pl.col("cluster_r"))
            & pl.col("record_id_l").is_in(with_ids.get_column("record_id").implode())
            & pl.col("record_id_r").is_in(with_ids.get_column("record_id").implode())
        )
        keyed = pl.concat([keyed, inside.select(record_id="record_id_l", value="record_id_r")])
    components = connected_components_of(keyed["record_id"], keyed["value"])
    groups = (
        values.select("record_id", "cluster_id")
        .unique()
        .join(components, left_on="record_id", right_on="node")
        # The component's smallest node may be a value: the group is its smallest record.
        .with_columns(group=pl.col("record_id").min().over("component"))
    )
    return groups.select("record_id", "cluster_id", "group")


def _disjoint_identifier_links(groups: pl.DataFrame) -> pl.DataFrame:
    """Cannot-link pairs between the identifier groups of one cluster."""
    multi = groups.filter(pl.col("group").n_unique().over("cluster_id") > 1)
    return (
        multi.join(multi, on="cluster_id", suffix="_r")
        .filter(
            (pl.col("group") != pl.col("group_r")) & (pl.col("record_id") < pl.col("record_id_r"))
        )
        .select(pl.col("record_id").alias("record_id_l"), "record_id_r")
    )


def _loosely_connected(
    clusters: pl.DataFrame, edges: pl.DataFrame, min_density: float
) -> pl.DataFrame:
    """Clusters of `MIN_LOOSE_CLUSTER_SIZE`+ records with too few strong pairs."""
    sized = clusters.with_columns(size=pl.len().over("cluster_id")).filter(
        pl.col("size") >= MIN_LOOSE_CLUSTER_SIZE
    )
    if sized.is_empty():
        return sized.select("cluster_id")
    inside = (
        edges.join(
            sized.select(pl.col("record_id").alias("record_id_l"), "cluster_id"),
            on="record_id_l",
        )
        .join(
            sized.select(pl.col("record_id").alias("record_id_r"), cluster_r="cluster_id"),
            on="record_id_r",
        )
        .filter(pl.col("cluster_id") == pl.col("cluster_r"))
        .unique(["record_id_l", "record_id_r"])
        .group_by("cluster_id")
        .agg(strong_pairs=pl.len())
    )
    return (
        sized.group_by("cluster_id")
        .agg(size=pl.len())
        .join(inside, on="cluster_id", how="left")
        .with_columns(
            density=pl.col("strong_pairs").fill_null(0)
            / (pl.col("size") * (pl.col("size") - 1) / 2)
        )
        .filter(pl.col("density") < min_density)
        .select("cluster_id")
    )


def inspect_cluster_shapes(
    clusters: pl.DataFrame,
    edges: pl.DataFrame,
    contacts: pl.DataFrame,
    *,
    exempt: pl.Series | None = None,
    split_disjoint_identifiers: bool = True,
    min_density: float = 0.0,
    max_cluster_size: int | None = None,
) -> ClusterShapes:
    """Split clusters with disjoint identifier groups and find loosely connected ones.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id`` of the automatic clusters.
    edges
        The pairs that formed them: ``record_id_l``, ``record_id_r``, ``match_probability``.
    contacts
        ``record_id``, ``phones_e164`` and ``emails_normalized``.
    exempt
        Cluster ids not to inspect (clusters a reviewer approved).
    split_disjoint_identifiers
        Split a cluster of three or more records that form groups with no phone or e-mail
        in common; each part is rebuilt from its strongest pairs (records without
        identifiers join the group they are tied to most strongly).
    min_density
        A cluster of four or more records whose share of strong pairs is below this is
        held (0 turns the check off).
    max_cluster_size
        Larger clusters are not inspected: they are held as oversized anyway.

    Returns
    -------
    ClusterShapes
        The clusters after splitting, and the flags.
    """
    inspected = clusters.select("record_id", "cluster_id")
    sizes = inspected.with_columns(size=pl.len().over("cluster_id"))
    candidates = sizes.filter(pl.col("size") > 1)
    if max_cluster_size is not None:
        candidates = candidates.filter(pl.col("size") <= max_cluster_size)
    if exempt is not None and exempt.len():
        candidates = candidates.filter(~pl.col("cluster_id").is_in(exempt.implode()))
    flags = [pl.DataFrame(schema={"record_id": pl.String, "flag": pl.String})]
    result = inspected
    if split_disjoint_identifiers and not candidates.is_empty():
        joined = (
            edges.filter(pl.col(STRONG_WITHOUT_IDENTIFIERS)).select("record_id_l", "record_id_r")
            if STRONG_WITHOUT_IDENTIFIERS in edges.columns
            else None
        )
        links = _disjoint_identifier_links(
            identifier_groups(
                candidates.filter(pl.col("size") >= MIN_SPLIT_CLUSTER_SIZE), contacts, joined
            )
        )
        if not links.is_empty():
            split_clusters = (
                links.select(record_id="record_id_l")
                .join(inspected, on="record_id")
                .select("cluster_id")
                .unique()
            )
            flags.append(
                inspected.join(split_clusters, on="cluster_id").select(
                    "record_id", flag=pl.lit(Shape.DISJOINT_IDENTIFIERS)
                )
            )
            result = split_conflicting_clusters(inspected, edges, links)
    held = pl.Series("record_id", [], dtype=pl.String)
    if min_density > 0:
        # Inspect the clusters as they are now: the parts of a split cluster included.
        still = result.join(candidates.select("record_id"), on="record_id")
        loose = _loosely_connected(still, edges, min_density)
        if not loose.is_empty():
            held = result.join(loose, on="cluster_id").get_column("record_id")
            flags.append(held.to_frame().with_columns(flag=pl.lit(Shape.LOOSELY_CONNECTED)))
    return ClusterShapes(clusters=result, flags=pl.concat(flags).unique(), held=held)


def tight_cores(
    clusters: pl.DataFrame,
    edges: pl.DataFrame,
    untrusted: pl.Series,
    *,
    threshold: float,
    min_density: float,
    max_cluster_size: int,
) -> pl.DataFrame:
    """Replace each untrusted cluster by the tight cores its strongest pairs form.

    The bar a pair must clear starts at ``threshold`` and is raised a step at a time (each
    step halves the odds that a pair kept is a mismatch). At every step a cluster's
    remaining pairs split it into connected parts; a part is kept as soon as it has at most
    ``max_cluster_size`` records and is not loosely connected, measured over all of its
    pairs at ``threshold`` (a lone record is always kept). Parts that never pass end as
    single records.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id``.
    edges
        Pairs at or above ``threshold``: ``record_id_l``, ``record_id_r`` and
        ``match_probability``.
    untrusted
        Cluster ids to replace (oversized or loosely connected ones).
    threshold
        The auto-merge threshold: every pair in ``edges`` reaches it.
    min_density, max_cluster_size
        What a part must satisfy, as for any automatic cluster.

    Returns
    -------
    polars.DataFrame
        ``clusters`` with the untrusted clusters replaced by their parts; a part's id is
        its smallest record id.
    """
    pending = clusters.filter(pl.col("cluster_id").is_in(untrusted.implode())).select(
        "record_id", "cluster_id"
    )
    if pending.is_empty():
        return clusters
    settled = [clusters.join(pending, on="record_id", how="anti").select("record_id", "cluster_id")]
    pairs = edges.select("record_id_l", "record_id_r", "match_probability")
    for step in range(1, CORE_STEPS + 1):
        bar = 1 - (1 - threshold) / 2**step
        inside = (
            pairs.filter(pl.col("match_probability") >= bar)
            .join(pending.rename({"record_id": "record_id_l"}), on="record_id_l")
            .join(
                pending.rename({"record_id": "record_id_r", "cluster_id": "cluster_r"}),
                on="record_id_r",
            )
            .filter(pl.col("cluster_id") == pl.col("cluster_r"))
        )
        components = connected_components_of(inside["record_id_l"], inside["record_id_r"])
        parts = pending.join(
            components.rename({"node": "record_id"}), on="record_id", how="left"
        ).select("record_id", cluster_id=pl.coalesce("component", "record_id"))
        sizes = parts.group_by("cluster_id").agg(size=pl.len())
        failing = pl.concat(
            [
                sizes.filter(pl.col("size") > max_cluster_size).select("cluster_id"),
                _loosely_connected(parts, pairs, min_density)
                if min_density > 0
                else sizes.clear().select("cluster_id"),
            ]
        ).unique()
        settled.append(parts.join(failing, on="cluster_id", how="anti"))
        pending = parts.join(failing, on="cluster_id", how="semi")
        if pending.is_empty():
            break
    settled.append(pending.select("record_id", cluster_id="record_id"))
    return (
        pl.concat(settled)
        .join(clusters.drop("cluster_id"), on="record_id", how="left")
        .select(clusters.columns)
    )
