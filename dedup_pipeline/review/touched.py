"""Decide again only the clusters a nightly run touched; keep the others as they were.

A cluster's outcome, confidence and review proposal depend on its candidate component
(records connected at the review threshold), its pairs, its members' phones and e-mails
and the reviewers' decisions on them. A nightly run changes few of these, so
`records_to_decide` collects the records whose inputs may have changed, grown to whole
components and whole clusters before and after, and the decide stage runs on them alone.
Everyone else keeps last night's row, client id included.
"""

from __future__ import annotations

import polars as pl

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.review.decide import (
    REVIEW_QUEUE_SCHEMA,
    ClusterDecisions,
    Outcome,
    decide_clusters,
    rank_review_queue,
)
from dedup_pipeline.schema import require_columns

__all__ = ["decide_records", "records_to_decide", "updated_review_queue"]


def _grown(records: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """``records`` plus every record sharing a group (``record_id``, ``group``) with one."""
    hit = groups.join(records, on="record_id", how="semi").select("group").unique()
    return pl.concat([records, groups.join(hit, on="group").select("record_id")]).unique()


def records_to_decide(
    match_clusters: pl.DataFrame,
    scored_pairs: pl.DataFrame,
    *,
    placed: pl.Series,
    reclustered: pl.Series,
    previous_clusters: pl.DataFrame,
    decisions: pl.DataFrame | None = None,
    flagged: pl.Series | None = None,
) -> pl.Series:
    """The records whose cluster decisions a nightly run must make again.

    Parameters
    ----------
    match_clusters, scored_pairs
        This run's match stage output (every record, every pair).
    placed
        Records this run scored afresh (new or changed).
    reclustered
        Records the match stage clustered again: it keeps every other record's candidate
        component as it was (`dedup_pipeline.match.incremental.match_incrementally`).
    previous_clusters
        The last run's decided clusters (`CLUSTER_SCHEMA`).
    decisions
        Reviewers' decisions (``record_ids``): their records are always decided again,
        so a decision taken since the last run takes effect.
    flagged
        Records flagged this run (`dedup_pipeline.screening`): those flagged now and not
        last run, or the other way round (a blacklist edit), are decided again.

    Returns
    -------
    polars.Series
        ``record_id`` of the records to decide; the decisions on all others are unchanged.
        Deciding them alone gives what deciding everyone would, because the set holds
        whole candidate components and whole clients, before and after (a component that
        changed was reclustered whole).
    """
    require_columns(
        previous_clusters, ["record_id", "cluster_id", "outcome"], table="previous clusters"
    )
    present = match_clusters.select("record_id")
    deleted = previous_clusters.select("record_id").join(present, on="record_id", how="anti")
    # A singleton is kept apart when it has any candidate pair and unique otherwise.
    with_pairs = pl.concat(
        [scored_pairs.select(record_id=side) for side in ("record_id_l", "record_id_r")]
    ).unique()
    had_pairs = previous_clusters.filter(pl.col("outcome") == Outcome.KEEP_APART).select(
        "record_id"
    )
    was_unique = previous_clusters.filter(pl.col("outcome") == Outcome.UNIQUE).select("record_id")
    seeds = [
        placed.rename("record_id").to_frame(),
        reclustered.rename("record_id").to_frame(),
        deleted,
        had_pairs.join(with_pairs, on="record_id", how="anti"),
        was_unique.join(with_pairs, on="record_id", how="semi"),
    ]
    if decisions is not None and not decisions.is_empty():
        seeds.append(decisions.select(record_id=pl.col("record_ids")).explode("record_id"))
    flagged_now = pl.DataFrame(
        {"record_id": [] if flagged is None else flagged}, schema={"record_id": pl.String}
    )
    flagged_before = previous_clusters.filter(pl.col("outcome") == Outcome.FLAGGED)
    seeds += [
        flagged_now.join(flagged_before, on="record_id", how="anti"),
        flagged_before.select("record_id").join(flagged_now, on="record_id", how="anti"),
    ]
    records = pl.concat(seeds).drop_nulls().unique()

    groupings = [
        previous_clusters.select("record_id", group="cluster_id"),
        match_clusters.select("record_id", group="candidate_cluster_id"),
    ]
    # Until nothing grows: a component may reach a client that reaches another component.
    while True:
        grown = records
        for groups in groupings:
            grown = _grown(grown, groups)
        if grown.height == records.height:
            break
        records = grown
    return records.join(present, on="record_id", how="semi").get_column("record_id")


def updated_review_queue(
    previous_queue: pl.DataFrame, decided_queue: pl.DataFrame, decided: pl.Series
) -> pl.DataFrame:
    """Last night's proposals on records not decided again, with tonight's, ranked again.

    Parameters
    ----------
    previous_queue
        The last run's review queue (`REVIEW_QUEUE_SCHEMA`).
    decided_queue
        The proposals among the records decided tonight.
    decided
        The records decided tonight (`records_to_decide`).
    """
    require_columns(previous_queue, REVIEW_QUEUE_SCHEMA, table="previous review queue")
    affected = (
        previous_queue.select("review_cluster_id", record_id="record_ids")
        .explode("record_id")
        .filter(pl.col("record_id").is_in(decided.implode()))
        .select("review_cluster_id")
        .unique()
    )
    kept = previous_queue.join(affected, on="review_cluster_id", how="anti")
    return rank_review_queue(
        pl.concat([kept.select(list(REVIEW_QUEUE_SCHEMA)), decided_queue]).cast(
            REVIEW_QUEUE_SCHEMA  # type: ignore[arg-type]
        )
    )


def decide_records(
    records: pl.Series,
    match_clusters: pl.DataFrame,
    scored_pairs: pl.DataFrame,
    *,
    config: DecisionConfig,
    decisions: pl.DataFrame | None = None,
    contacts: pl.DataFrame | None = None,
    record_versions: pl.DataFrame | None = None,
    flagged: pl.Series | None = None,
) -> ClusterDecisions:
    """`decide_clusters` for ``records`` alone (`records_to_decide`).

    The other arguments are the whole run's, as for `decide_clusters`; pairs are kept when
    they touch one of ``records`` (a pair to an outside record still tells that a record
    had a candidate).
    """
    wanted = records.implode()

    def mine(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if frame is None else frame.filter(pl.col("record_id").is_in(wanted))

    return decide_clusters(
        match_clusters.filter(pl.col("record_id").is_in(wanted)),
        scored_pairs.filter(
            pl.col("record_id_l").is_in(wanted) | pl.col("record_id_r").is_in(wanted)
        ),
        config=config,
        decisions=decisions,
        contacts=mine(contacts),
        record_versions=mine(record_versions),
        flagged=flagged,
    )
