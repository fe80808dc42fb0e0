"""Give every cluster an outcome: auto-merge, review, keep apart, or unique.

The rules, in order:

1. Records connected by pairs at or above ``auto_merge_threshold`` form a *client cluster*.
   Some shapes are not trusted (`dedup_pipeline.review.shapes`): a cluster larger than
   ``max_cluster_size`` (long chains through shared identifiers look like this) or loosely
   connected (``min_cluster_density``) is merged only within its tight cores
   (``merge_tight_cores``; otherwise its records stay separate) and goes to review; one
   whose records form groups with no phone or e-mail in common is merged per group
   (``split_disjoint_identifiers``).
2. Records connected at or above ``review_threshold`` form a *review proposal* when that
   connects two or more client clusters (or touches a held one): a person decides. Each
   proposal lists its ``flags`` and a ``reason``; flagged shapes come first in priority.
3. Outcome of each client cluster: ``auto_merge`` (two or more records), ``review`` (a single
   record that belongs to a review proposal), ``keep_apart`` (a single record that had
   candidate pairs, all too weak to review) or ``unique`` (no candidate pair at all).

Flagged records (blacklisted or junk, `dedup_pipeline.screening`) come out first: each is
a client of its own with outcome ``flagged``, in no merge and no proposal, and the records
they linked are clustered again without them.

A record belongs to exactly one client cluster; review proposals never merge anything by
themselves. Reviewers' decisions, when given, come first: an approval or a split group is
one client (outcome ``approved``, exempt from the size limit), rejected records and split
groups are kept apart, and a proposal whose records were all decided together is not
queued again (`dedup_pipeline.review.constraints`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.graph import connected_components_of
from dedup_pipeline.review.constraints import apply_constraints, constraints_from_decisions
from dedup_pipeline.review.shapes import (
    STRONG_WITHOUT_IDENTIFIERS,
    Shape,
    inspect_cluster_shapes,
    tight_cores,
)
from dedup_pipeline.schema import require_columns

__all__ = [
    "CLUSTER_SCHEMA",
    "REVIEW_QUEUE_SCHEMA",
    "ClusterDecisions",
    "Outcome",
    "ReviewWorkload",
    "decide_clusters",
    "rank_review_queue",
    "review_workload",
]


class Outcome:
    """Cluster outcomes (plain strings in tables)."""

    AUTO_MERGE = "auto_merge"
    APPROVED = "approved"
    REVIEW = "review"
    KEEP_APART = "keep_apart"
    UNIQUE = "unique"
    FLAGGED = "flagged"


#: One row per source record: the client cluster it belongs to and that cluster's outcome.
CLUSTER_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "cluster_id": pl.String(),
    "cluster_size": pl.UInt32(),
    "outcome": pl.String(),
    "confidence": pl.Float64(),
    "review_cluster_id": pl.String(),
}

#: One row per review proposal.
REVIEW_QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "review_cluster_id": pl.String(),
    "record_ids": pl.List(pl.String()),
    "record_count": pl.UInt32(),
    "client_cluster_count": pl.UInt32(),
    "confidence": pl.Float64(),
    "reason": pl.String(),
    "flags": pl.List(pl.String()),
    "priority": pl.UInt32(),
}


@dataclass(frozen=True)
class ClusterDecisions:
    """Output of `decide_clusters`: ``clusters`` (`CLUSTER_SCHEMA`) and ``review_queue``."""

    clusters: pl.DataFrame
    review_queue: pl.DataFrame


@dataclass(frozen=True)
class ReviewWorkload:
    """What a run leaves to a person: the one "to review" figure every report shows.

    Attributes
    ----------
    proposals
        Review proposals (rows of the review queue), each one decision.
    records
        Records in those proposals, whatever their outcome (a proposal may join
        auto-merged clusters).
    """

    proposals: int
    records: int


def review_workload(clusters: pl.DataFrame) -> ReviewWorkload:
    """The proposals to review and the records in them, from a run's ``clusters``."""
    require_columns(clusters, ["record_id", "review_cluster_id"], table="clusters")
    in_review = clusters.filter(pl.col("review_cluster_id").is_not_null())
    return ReviewWorkload(
        proposals=in_review.get_column("review_cluster_id").n_unique(), records=in_review.height
    )


def _strong_without_identifiers(scored_pairs: pl.DataFrame, threshold: float) -> pl.Expr:
    """Whether a pair reaches ``threshold`` on everything but its phones and e-mails.

    Such a pair joins its records' identifier groups (`dedup_pipeline.review.shapes`): a
    client who came back with a new phone and a new address is one client when the name,
    patronymic, company and city say so on their own.
    """
    needed = {"match_weight", "mw_phones", "mw_emails"}
    if not needed <= set(scored_pairs.columns) or not 0 < threshold < 1:
        return pl.lit(False).alias(STRONG_WITHOUT_IDENTIFIERS)
    bits = math.log2(threshold / (1 - threshold))
    rest = (
        pl.col("match_weight") - pl.col("mw_phones").fill_null(0) - pl.col("mw_emails").fill_null(0)
    )
    return (rest >= bits).alias(STRONG_WITHOUT_IDENTIFIERS)


def _weakest_member_tie(members: pl.DataFrame, pairs: pl.DataFrame, group: str) -> pl.DataFrame:
    """Per group: the weakest of each member's strongest tie inside the group.

    A value of 0.995 means every record is tied to some other record of its group with a
    match probability of at least 0.995.
    """
    left = pairs.join(members, left_on="record_id_l", right_on="record_id").rename(
        {group: "group_l"}
    )
    within = left.join(members, left_on="record_id_r", right_on="record_id").filter(
        pl.col("group_l") == pl.col(group)
    )
    ends = pl.concat(
        [
            within.select(pl.col("record_id_l").alias("record_id"), group, "match_probability"),
            within.select(pl.col("record_id_r").alias("record_id"), group, "match_probability"),
        ]
    )
    strongest = ends.group_by("record_id", group).agg(pl.col("match_probability").max())
    return strongest.group_by(group).agg(confidence=pl.col("match_probability").min())


def _weakest_link_between_clients(members: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per review proposal, the weakest scored pair it would merge.

    Pairs between two of the proposal's client clusters count (within one they are
    merged already); a proposal of one held-back cluster counts the pairs inside it.
    A proposal whose clients are joined at 0.998 one way and 0.56 another shows 0.56:
    approving it merges the 0.56 pair too.
    """
    ends = members.select("record_id", "cluster_id", "review_cluster_id")
    within = (
        pairs.join(ends, left_on="record_id_l", right_on="record_id")
        .join(ends, left_on="record_id_r", right_on="record_id", suffix="_r")
        .filter(pl.col("review_cluster_id") == pl.col("review_cluster_id_r"))
        .with_columns(between=pl.col("cluster_id") != pl.col("cluster_id_r"))
    )
    return within.group_by("review_cluster_id").agg(
        confidence=pl.when(pl.col("between").any())
        .then(pl.col("match_probability").filter(pl.col("between")).min())
        .otherwise(pl.col("match_probability").min())
    )


def _regrouped(
    groups: pl.DataFrame, edges: pl.DataFrame, group: str, affected: pl.DataFrame
) -> pl.DataFrame:
    """``groups`` with each ``affected`` group split into what ``edges`` still connect.

    A part is named after its smallest record id; a record left alone is its own group.
    """
    members = groups.join(affected, on=group, how="semi")
    inside = edges.join(
        members.select(record_id_l="record_id", group_l=group), on="record_id_l"
    ).join(members.select(record_id_r="record_id", group_r=group), on="record_id_r")
    # Only edges inside one old group: a group split for other reasons stays split.
    inside = inside.filter(pl.col("group_l") == pl.col("group_r"))
    parts = connected_components_of(inside["record_id_l"], inside["record_id_r"])
    regrouped = members.join(
        parts.select(record_id="node", part="component"), on="record_id", how="left"
    ).select("record_id", pl.coalesce("part", "record_id").alias(group))
    return pl.concat(
        [groups.join(affected, on=group, how="anti"), regrouped.select(groups.columns)]
    )


def _set_apart(
    match_clusters: pl.DataFrame,
    scored_pairs: pl.DataFrame,
    flagged: pl.Series,
    config: DecisionConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Take flagged records out of every cluster and pair; recluster what they linked."""
    out = flagged.implode()
    pairs = scored_pairs.filter(
        ~pl.col("record_id_l").is_in(out) & ~pl.col("record_id_r").is_in(out)
    )
    usable = ~pl.col("names_conflict") if "names_conflict" in pairs.columns else pl.lit(value=True)
    clusters = match_clusters
    for group, threshold in (
        ("strong_cluster_id", config.auto_merge_threshold),
        ("candidate_cluster_id", config.review_threshold),
    ):
        affected = match_clusters.filter(pl.col("record_id").is_in(out)).select(group).unique()
        edges = pairs.filter(usable & (pl.col("match_probability") >= threshold))
        regrouped = _regrouped(match_clusters.select("record_id", group), edges, group, affected)
        clusters = clusters.drop(group).join(regrouped, on="record_id")
    return clusters.select(match_clusters.columns), pairs


def _reasons(config: DecisionConfig) -> pl.Expr:
    """One sentence per flag of a proposal, joined: why a person must look at it."""
    sentences = {
        Shape.OVERSIZED: pl.lit(
            f"strongly linked group of more than {config.max_cluster_size} records "
            "(max_cluster_size)"
        ),
        Shape.LOOSELY_CONNECTED: pl.lit(
            f"loosely connected: fewer than {config.min_cluster_density:.0%} of its record "
            "pairs are strong (min_cluster_density)"
        ),
        Shape.DISJOINT_IDENTIFIERS: pl.lit(
            "groups of records with no phone or e-mail in common, joined by names and "
            "near-miss identifiers"
        ),
        Shape.RECORDS_CHANGED: pl.lit("records changed since a reviewer decided on them"),
        Shape.REVIEW_BAND: pl.format(
            "{} client clusters linked by pairs between the review and auto-merge thresholds",
            pl.col("client_cluster_count"),
        ),
    }
    parts = [
        pl.when(pl.col("flags").list.contains(flag)).then(sentence)
        for flag, sentence in sentences.items()
    ]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)


def _not_yet_decided(proposals: pl.DataFrame, decided: list[frozenset[str]]) -> pl.DataFrame:
    """Proposals whose records were not all in one earlier decision."""
    if not decided:
        return proposals
    decided_records = pl.DataFrame(
        [(i, record) for i, records in enumerate(decided) for record in records],
        schema={"decision": pl.Int64, "record_id": pl.String},
        orient="row",
    )
    covered = (
        proposals.select("review_cluster_id", "record_ids", "record_count")
        .explode("record_ids")
        .join(decided_records, left_on="record_ids", right_on="record_id")
        .group_by("review_cluster_id", "decision", "record_count")
        .len()
        .filter(pl.col("len") == pl.col("record_count"))
    )
    return proposals.join(covered, on="review_cluster_id", how="anti")


def rank_review_queue(queue: pl.DataFrame) -> pl.DataFrame:
    """Number proposals by ``priority`` (1 first): shapes the machine would have merged,
    then big, uncertain proposals, which hide the most duplicates and the most risk."""
    return (
        queue.with_columns(shaped=pl.col("flags") != pl.lit([Shape.REVIEW_BAND]))
        .sort(
            ["shaped", "record_count", "confidence", "review_cluster_id"],
            descending=[True, True, False, False],
        )
        .with_columns(priority=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32))
        .select(list(REVIEW_QUEUE_SCHEMA))
    )


def decide_clusters(
    match_clusters: pl.DataFrame,
    scored_pairs: pl.DataFrame,
    *,
    config: DecisionConfig,
    decisions: pl.DataFrame | None = None,
    contacts: pl.DataFrame | None = None,
    record_versions: pl.DataFrame | None = None,
    flagged: pl.Series | None = None,
) -> ClusterDecisions:
    """Turn Splink's clusters into client clusters, outcomes and a review queue.

    Parameters
    ----------
    match_clusters
        ``record_id``, ``strong_cluster_id`` and ``candidate_cluster_id`` per record, as
        produced by the match stage at the auto-merge and review thresholds.
    scored_pairs
        Scored candidate pairs (``record_id_l``, ``record_id_r``, ``match_probability``).
    config
        Thresholds and the maximum size of an automatic merge.
    decisions
        Reviewers' latest decisions (``action``, ``record_ids``, ``groups``): approved
        records become one client (outcome ``approved``, whatever its size), split groups
        are joined and kept apart from each other, rejected records are kept apart; a
        proposal whose records were all decided together is not queued again.
    contacts
        ``record_id``, ``phones_e164`` and ``emails_normalized`` per record, to inspect
        cluster shapes (`dedup_pipeline.review.shapes`): a cluster with disjoint identifier
        groups is merged per group and proposed as a whole; a loosely connected one is not
        merged. Without it, only the size limit applies.
    record_versions
        ``record_id`` and ``record_version`` of this run's records
        (`dedup_pipeline.review.versions.record_versions`): a decision that saw another
        version of one of its records is set aside, and a proposal holding its records is
        flagged ``records_changed``.
    flagged
        ``record_id`` of records kept out of merges (`dedup_pipeline.screening`): each is
        its own client with outcome ``flagged``, even against a reviewer's approval, and
        the records it linked are clustered again without it.
    """
    require_columns(
        match_clusters,
        ["record_id", "strong_cluster_id", "candidate_cluster_id"],
        table="match clusters",
    )
    require_columns(
        scored_pairs, ["record_id_l", "record_id_r", "match_probability"], table="scored pairs"
    )
    flagged = (
        pl.Series("record_id", [], dtype=pl.String)
        if flagged is None
        else flagged.filter(flagged.is_in(match_clusters.get_column("record_id").implode()))
    )
    if not flagged.is_empty():
        match_clusters, scored_pairs = _set_apart(match_clusters, scored_pairs, flagged, config)
    pairs = scored_pairs.select("record_id_l", "record_id_r", "match_probability")
    # A flagged record is in no reviewer's merge: as if it were not in this run.
    mergeable_records = match_clusters.get_column("record_id")
    mergeable_records = mergeable_records.filter(~mergeable_records.is_in(flagged.implode()))
    constraints = constraints_from_decisions(decisions, mergeable_records, record_versions)
    approved = pl.Series("cluster_id", [], dtype=pl.String)
    flags = pl.DataFrame(
        [(record, Shape.RECORDS_CHANGED) for records in constraints.changed for record in records],
        schema={"record_id": pl.String, "flag": pl.String},
        orient="row",
    )
    held = pl.Series("record_id", [], dtype=pl.String)
    strong = match_clusters.select("record_id", pl.col("strong_cluster_id").alias("cluster_id"))
    mergeable = pl.col("match_probability") >= config.auto_merge_threshold
    if "names_conflict" in scored_pairs.columns:
        mergeable &= ~pl.col("names_conflict")
    strong_pairs = scored_pairs.filter(mergeable).select(
        *pairs.columns, _strong_without_identifiers(scored_pairs, config.auto_merge_threshold)
    )
    if not constraints.is_empty:
        strong, approved = apply_constraints(strong, strong_pairs, constraints)
    if contacts is not None:
        require_columns(
            contacts, ["record_id", "phones_e164", "emails_normalized"], table="contacts"
        )
        shapes = inspect_cluster_shapes(
            strong,
            strong_pairs,
            contacts,
            exempt=approved,
            split_disjoint_identifiers=config.split_disjoint_identifiers,
            min_density=config.min_cluster_density,
            max_cluster_size=config.max_cluster_size,
        )
        strong, held = shapes.clusters, shapes.held
        flags = pl.concat([flags, shapes.flags])
    oversized = strong.filter(
        (pl.len().over("cluster_id") > config.max_cluster_size)
        & ~pl.col("cluster_id").is_in(approved.implode())
    )["record_id"]
    flags = pl.concat([flags, oversized.to_frame().with_columns(flag=pl.lit(Shape.OVERSIZED))])
    held = pl.concat([held, oversized])
    if config.merge_tight_cores and not held.is_empty():
        untrusted = strong.filter(pl.col("record_id").is_in(held.implode()))["cluster_id"]
        strong = tight_cores(
            strong,
            strong_pairs,
            untrusted.unique(),
            threshold=config.auto_merge_threshold,
            min_density=config.min_cluster_density,
            max_cluster_size=config.max_cluster_size,
        )
        if contacts is not None and config.split_disjoint_identifiers:
            # A core of an oversized cluster was never inspected as a whole: its groups
            # with no phone or e-mail in common are kept apart as in any other cluster.
            cores = strong.filter(pl.col("record_id").is_in(held.implode()))
            reshaped = inspect_cluster_shapes(
                cores, strong_pairs, contacts, max_cluster_size=config.max_cluster_size
            )
            strong = pl.concat([strong.join(cores, on="record_id", how="anti"), reshaped.clusters])
            flags = pl.concat([flags, reshaped.flags])
    match_clusters = match_clusters.drop("strong_cluster_id").join(
        strong.rename({"cluster_id": "strong_cluster_id"}), on="record_id"
    )
    sized = match_clusters.with_columns(
        approved=pl.col("strong_cluster_id").is_in(approved.implode()),
    )
    assigned = (
        sized.with_columns(held=pl.col("record_id").is_in(held.implode()))
        .with_columns(
            # Tight cores, when merged, are clusters of their own already.
            cluster_id=pl.when(pl.lit(not config.merge_tight_cores) & pl.col("held"))
            .then(pl.col("record_id"))
            .otherwise(pl.col("strong_cluster_id"))
        )
        .with_columns(cluster_size=pl.len().over("cluster_id").cast(pl.UInt32))
    )

    proposals = (
        assigned.join(flags, on="record_id", how="left")
        .group_by("candidate_cluster_id")
        .agg(
            record_ids=pl.col("record_id").unique().sort(),
            record_count=pl.col("record_id").n_unique().cast(pl.UInt32),
            client_cluster_count=pl.col("cluster_id").n_unique().cast(pl.UInt32),
            held=pl.col("held").any(),
            flags=pl.col("flag").drop_nulls().unique().sort(),
        )
        .filter((pl.col("client_cluster_count") > 1) | pl.col("held"))
        .rename({"candidate_cluster_id": "review_cluster_id"})
    )
    proposals = _not_yet_decided(proposals, constraints.decided)
    review_confidence = _weakest_link_between_clients(
        assigned.select(
            "record_id", "cluster_id", pl.col("candidate_cluster_id").alias("review_cluster_id")
        ),
        pairs,
    )
    review_queue = (
        proposals.join(review_confidence, on="review_cluster_id", how="left")
        .with_columns(
            flags=pl.when(pl.col("flags").list.len() > 0)
            .then("flags")
            .otherwise(pl.lit([Shape.REVIEW_BAND]))
        )
        .with_columns(reason=_reasons(config), priority=pl.lit(0, dtype=pl.UInt32))
        .pipe(rank_review_queue)
    )

    in_review = assigned.join(
        review_queue.select("review_cluster_id"),
        left_on="candidate_cluster_id",
        right_on="review_cluster_id",
        how="semi",
    ).select("record_id", pl.col("candidate_cluster_id").alias("review_cluster_id"))
    has_candidates = pl.concat([pairs["record_id_l"], pairs["record_id_r"]]).unique()
    confidence = _weakest_member_tie(
        assigned.select("record_id", "cluster_id"), pairs, "cluster_id"
    )
    clusters = (
        assigned.join(in_review, on="record_id", how="left")
        .join(confidence, on="cluster_id", how="left")
        .with_columns(
            outcome=pl.when((pl.col("cluster_size") > 1) & pl.col("approved"))
            .then(pl.lit(Outcome.APPROVED))
            .when(pl.col("cluster_size") > 1)
            .then(pl.lit(Outcome.AUTO_MERGE))
            .when(pl.col("record_id").is_in(flagged.implode()))
            .then(pl.lit(Outcome.FLAGGED))
            .when(pl.col("review_cluster_id").is_not_null())
            .then(pl.lit(Outcome.REVIEW))
            .when(pl.col("record_id").is_in(has_candidates.implode()))
            .then(pl.lit(Outcome.KEEP_APART))
            .otherwise(pl.lit(Outcome.UNIQUE)),
            confidence=pl.when(pl.col("cluster_size") > 1).then(pl.col("confidence")),
        )
        .select(list(CLUSTER_SCHEMA))
        .sort("cluster_id", "record_id")
    )
    return ClusterDecisions(clusters=clusters, review_queue=review_queue)
