"""Pairwise accuracy of client clusters against ground truth."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from dedup_pipeline.schema import require_columns

__all__ = ["PairwiseScores", "TruthColumnError", "pairwise_scores", "truth_from_attributes"]


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
