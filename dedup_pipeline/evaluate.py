"""Accuracy of a run's client clusters against ground truth.

`evaluate_run` scores the final ``clusters`` table of a run against true entities: pairwise
precision, recall and F1 of all clusters, the precision of the automatically merged pairs
alone, and the share of client clusters left for a person to review. `evaluate_warehouse`
reads the tables of a finished run from its DuckDB warehouse and does the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from dedup_pipeline.review.decide import Outcome, review_workload
from dedup_pipeline.schema import require_columns

if TYPE_CHECKING:
    from dedup_pipeline.config import PipelineConfig

__all__ = [
    "EVIDENCE_CLASSES",
    "LabelAgreement",
    "PairwiseScores",
    "RunEvaluation",
    "TruthColumnError",
    "agreement_with_labels",
    "evaluate_run",
    "evaluate_warehouse",
    "pairwise_scores",
    "recall_by_evidence",
    "truth_from_attributes",
    "warehouse_recall_by_evidence",
]


class TruthColumnError(ValueError):
    """The ground-truth column is not among the records' passthrough columns."""


@dataclass(frozen=True)
class PairwiseScores:
    """Precision, recall and F1 over record pairs placed in one cluster."""

    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int
    true_positive_pairs: int
    records: int

    def as_dict(self) -> dict[str, float | int]:
        """Return the scores as a plain dict (for JSON reports)."""
        return asdict(self)


def _pair_count(sizes: pl.Expr) -> pl.Expr:
    return (sizes * (sizes - 1) // 2).sum()


def pairwise_scores(clusters: pl.DataFrame, truth: pl.DataFrame) -> PairwiseScores:
    """Score clusters against true entities, pair by pair.

    Parameters
    ----------
    clusters
        ``record_id`` and ``cluster_id`` per record.
    truth
        ``record_id`` and ``entity_id`` per record. Records without an entity count as
        entities of their own.

    Returns
    -------
    PairwiseScores
        A pair is predicted when both records share a cluster, true when they share an
        entity. Precision is 1.0 when nothing is predicted (no wrong merge was made).
    """
    require_columns(clusters, ["record_id", "cluster_id"], table="clusters")
    require_columns(truth, ["record_id", "entity_id"], table="truth")
    joined = (
        clusters.select("record_id", "cluster_id")
        .join(truth.select("record_id", "entity_id"), on="record_id", how="left")
        .with_columns(
            pl.coalesce(pl.col("entity_id").cast(pl.String), "record_id").alias("entity_id")
        )
    )
    predicted = joined.group_by("cluster_id").len().select(_pair_count(pl.col("len"))).item()
    actual = joined.group_by("entity_id").len().select(_pair_count(pl.col("len"))).item()
    agreed = (
        joined.group_by("cluster_id", "entity_id").len().select(_pair_count(pl.col("len"))).item()
    )
    precision = agreed / predicted if predicted else 1.0
    recall = agreed / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(
        precision=precision,
        recall=recall,
        f1=f1,
        predicted_pairs=int(predicted or 0),
        true_pairs=int(actual or 0),
        true_positive_pairs=int(agreed or 0),
        records=joined.height,
    )


def truth_from_attributes(records: pl.DataFrame, column: str) -> pl.DataFrame:
    """Extract a ground-truth column from the records' passthrough ``attributes``.

    Raises
    ------
    TruthColumnError
        When no record carries the column.
    """
    require_columns(records, ["record_id", "attributes"], table="source records")
    truth = records.select(
        "record_id",
        pl.col("attributes")
        .str.json_decode(pl.Struct({column: pl.String}))
        .struct.field(column)
        .alias("entity_id"),
    )
    if truth.get_column("entity_id").null_count() == truth.height:
        raise TruthColumnError(
            f"no source record has a passthrough column {column!r}; "
            "unmapped export columns are passed through, so check the column name"
        )
    return truth


@dataclass(frozen=True)
class RunEvaluation:
    """How well a run's clusters match the truth, and how much it leaves to review.

    Attributes
    ----------
    overall
        Pairwise scores of the final client clusters.
    auto_merged
        Pairwise scores of the clusters with outcome ``auto_merge`` alone, scored over
        their own records: its precision is the share of automatically merged pairs
        that are true (its recall is not meaningful). Every cluster of two or more
        records is an automatic merge, so this precision equals ``overall.precision``
        as long as that rule holds.
    clusters
        Distinct client clusters (``cluster_id``).
    clusters_in_review
        Distinct client clusters with outcome ``review``: single records that belong to a
        review proposal and wait for a person.
    review_share
        ``clusters_in_review / clusters`` (0.0 when there are no clusters).
    review_proposals
        Review proposals (`dedup_pipeline.review.review_workload`), the figure every report
        shows as "to review". A proposal may also touch ``auto_merge`` clusters.

    """

    overall: PairwiseScores
    auto_merged: PairwiseScores
    clusters: int
    clusters_in_review: int
    review_share: float
    review_proposals: int

    def as_dict(self) -> dict[str, Any]:
        """Return the evaluation as plain, JSON-serialisable values."""
        return {
            "overall": self.overall.as_dict(),
            "auto_merged": self.auto_merged.as_dict(),
            "clusters": self.clusters,
            "clusters_in_review": self.clusters_in_review,
            "review_share": self.review_share,
            "review_proposals": self.review_proposals,
        }


def evaluate_run(clusters: pl.DataFrame, truth: pl.DataFrame) -> RunEvaluation:
    """Score a run's client clusters against true entities.

    Parameters
    ----------
    clusters
        The run's ``clusters`` table: ``record_id``, ``cluster_id``, ``outcome`` and
        ``review_cluster_id`` per record (see `dedup_pipeline.review.CLUSTER_SCHEMA`).
    truth
        ``record_id`` and ``entity_id`` per record, e.g. from `truth_from_attributes`.
        Records without an entity count as entities of their own.

    Returns
    -------
    RunEvaluation
        Overall pairwise scores, the precision of auto-merged pairs and the review share.
    """
    require_columns(
        clusters, ["record_id", "cluster_id", "outcome", "review_cluster_id"], table="clusters"
    )
    overall = pairwise_scores(clusters, truth)
    merged = clusters.filter(pl.col("outcome") == Outcome.AUTO_MERGE)
    auto_merged = pairwise_scores(
        merged, truth.filter(pl.col("record_id").is_in(merged.get_column("record_id").implode()))
    )
    counts = clusters.select(
        clusters=pl.col("cluster_id").n_unique(),
        in_review=pl.col("cluster_id").filter(pl.col("outcome") == Outcome.REVIEW).n_unique(),
    ).row(0, named=True)
    n_clusters = int(counts["clusters"])
    in_review = int(counts["in_review"])
    return RunEvaluation(
        overall=overall,
        auto_merged=auto_merged,
        clusters=n_clusters,
        clusters_in_review=in_review,
        review_share=in_review / n_clusters if n_clusters else 0.0,
        review_proposals=review_workload(clusters).proposals,
    )


def evaluate_warehouse(config: PipelineConfig, truth_column: str) -> RunEvaluation:
    """Evaluate the run stored in ``config``'s warehouse against a passthrough column.

    Parameters
    ----------
    config
        The configuration of a finished run (its warehouse holds ``clusters`` and
        ``source_records``).
    truth_column
        The passthrough export column holding the true entity id.

    Raises
    ------
    TruthColumnError
        When no record carries ``truth_column``.
    """
    from dedup_pipeline.duckdb_connection import connect
    from dedup_pipeline.sinks import read_table

    connection = connect(config.warehouse, database=config.warehouse.path)
    try:
        clusters = read_table(connection, "clusters")
        records = connection.sql("SELECT record_id, attributes FROM source_records").pl()
    finally:
        connection.close()
    return evaluate_run(clusters, truth_from_attributes(records, truth_column))


def warehouse_recall_by_evidence(
    config: PipelineConfig, truth_column: str
) -> dict[str, dict[str, float | int]]:
    """`recall_by_evidence` of the run stored in ``config``'s warehouse."""
    from dedup_pipeline.duckdb_connection import connect
    from dedup_pipeline.sinks import read_table

    connection = connect(config.warehouse, database=config.warehouse.path)
    try:
        clusters = read_table(connection, "clusters")
        contacts = read_table(connection, "contacts")
        records = connection.sql("SELECT record_id, attributes FROM source_records").pl()
    finally:
        connection.close()
    return recall_by_evidence(contacts, clusters, truth_from_attributes(records, truth_column))


#: Classes of true pairs by what joins them, in `recall_by_evidence`.
EVIDENCE_CLASSES = ("shared identifier", "through other records", "names only")
#: The names-only pairs whose one full name no other client in the base holds: the part
#: of that class a name can decide without a namesake to tell apart.
UNIQUE_NAME = "names only, name of one client"


def recall_by_evidence(
    contacts: pl.DataFrame, clusters: pl.DataFrame, truth: pl.DataFrame
) -> dict[str, dict[str, float | int]]:
    """True pairs by what joins them, and the share of each found in one cluster.

    A pair either shares a phone or e-mail (``shared identifier``), or is joined through
    shared identifiers of other records (``through other records``), or has nothing but
    names and the like (``names only``). Identifier-joined pairs should be found at any
    size of base; how many name-only pairs can be found at a given precision depends on
    how often the names repeat, so `UNIQUE_NAME` counts the names-only pairs that agree
    on first and last name where no other client in the base has that name.

    Parameters
    ----------
    contacts
        ``record_id``, ``phones_e164``, ``emails_normalized`` (the normalized contacts),
        and ``first_name_key``, ``last_name_key`` where the names are to be counted.
    clusters
        ``record_id`` and ``cluster_id``.
    truth
        ``record_id`` and ``entity_id``.
    """
    from dedup_pipeline.graph import connected_components_of

    require_columns(contacts, ["record_id", "phones_e164", "emails_normalized"], table="contacts")
    has_names = {"first_name_key", "last_name_key"} <= set(contacts.columns)
    name = (
        pl.concat_str("first_name_key", "last_name_key", separator=" ")
        if has_names
        else pl.lit(None, pl.String)
    )
    records = (
        contacts.select("record_id", "phones_e164", "emails_normalized", name=name)
        .join(truth.drop_nulls("entity_id"), on="record_id")
        .join(clusters.select("record_id", "cluster_id"), on="record_id")
        .with_columns(name_holders=pl.col("entity_id").n_unique().over("name"))
    )
    values = pl.concat(
        [
            records.select("record_id", value=pl.col(c)).explode("value")
            for c in ("phones_e164", "emails_normalized")
        ]
    ).drop_nulls()
    # Records joined through shared values: edges from each value's first holder.
    edges = values.with_columns(first=pl.col("record_id").first().over("value"))
    components = connected_components_of(edges["record_id"], edges["first"])
    records = records.join(
        components.select(record_id="node", component="component"), on="record_id", how="left"
    ).with_columns(component=pl.coalesce("component", "record_id"))
    pairs = (
        records.join(records, on="entity_id", suffix="_r")
        .filter(pl.col("record_id") < pl.col("record_id_r"))
        .with_columns(
            evidence=pl.when(
                pl.col("phones_e164").list.set_intersection("phones_e164_r").list.len()
                + pl.col("emails_normalized")
                .list.set_intersection("emails_normalized_r")
                .list.len()
                > 0
            )
            .then(pl.lit(EVIDENCE_CLASSES[0]))
            .when(pl.col("component") == pl.col("component_r"))
            .then(pl.lit(EVIDENCE_CLASSES[1]))
            .otherwise(pl.lit(EVIDENCE_CLASSES[2])),
            found=pl.col("cluster_id") == pl.col("cluster_id_r"),
        )
    )
    total = max(pairs.height, 1)

    def figures(selected: pl.DataFrame) -> dict[str, float | int]:
        return {
            "pairs": selected.height,
            "share": selected.height / total,
            "recall": float(selected.get_column("found").mean()) if selected.height else 0.0,
        }

    result = {name: figures(pairs.filter(pl.col("evidence") == name)) for name in EVIDENCE_CLASSES}
    result[UNIQUE_NAME] = figures(
        pairs.filter(
            pl.col("evidence") == EVIDENCE_CLASSES[2],
            pl.col("name") == pl.col("name_r"),
            pl.col("name_holders") == 1,
        )
    )
    return result


@dataclass(frozen=True)
class LabelAgreement:
    """How the model's pair decisions compare with reviewers' labels."""

    labelled_pairs: int
    labelled_matches: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the figures as a plain dict (for JSON reports)."""
        return asdict(self)


def agreement_with_labels(
    scored_pairs: pl.DataFrame, labels: pl.DataFrame, *, threshold: float
) -> LabelAgreement:
    """Score the model's pairs against reviewer-labelled pairs.

    Parameters
    ----------
    scored_pairs
        ``record_id_l``, ``record_id_r``, ``match_probability`` (pairs not scored count as
        non-matches).
    labels
        ``record_id_l``, ``record_id_r``, ``clerical_match_score`` (1 match, 0 not).
    threshold
        Probability at which the model calls a pair a match (the auto-merge threshold).
    """
    require_columns(labels, ["record_id_l", "record_id_r", "clerical_match_score"], table="labels")
    ordered = scored_pairs.select(
        pl.min_horizontal("record_id_l", "record_id_r").alias("record_id_l"),
        pl.max_horizontal("record_id_l", "record_id_r").alias("record_id_r"),
        "match_probability",
    )
    joined = labels.join(ordered, on=["record_id_l", "record_id_r"], how="left").with_columns(
        predicted=pl.col("match_probability").fill_null(0.0) >= threshold,
        actual=pl.col("clerical_match_score") >= 0.5,
    )
    true_positive = joined.filter(pl.col("predicted") & pl.col("actual")).height
    predicted = joined.filter(pl.col("predicted")).height
    actual = joined.filter(pl.col("actual")).height
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LabelAgreement(
        labelled_pairs=joined.height,
        labelled_matches=actual,
        precision=precision,
        recall=recall,
        f1=f1,
    )
