"""Review stage: cluster outcomes and the queue of clusters a person must decide."""

from dedup_pipeline.review.decide import (
    CLUSTER_SCHEMA,
    REVIEW_QUEUE_SCHEMA,
    ClusterDecisions,
    Outcome,
    decide_clusters,
)

__all__ = [
    "CLUSTER_SCHEMA",
    "REVIEW_QUEUE_SCHEMA",
    "ClusterDecisions",
    "Outcome",
    "decide_clusters",
]
