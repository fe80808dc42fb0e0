"""Review stage: cluster outcomes and the queue of clusters a person must decide."""

from dedup_pipeline.review.decide import (
    CLUSTER_SCHEMA,
    REVIEW_QUEUE_SCHEMA,
    ClusterDecisions,
    Outcome,
    ReviewWorkload,
    decide_clusters,
    review_workload,
)
from dedup_pipeline.review.store import (
    DECISION_SCHEMA,
    DecisionStore,
    ReviewDecision,
    make_cluster_key,
)

__all__ = [
    "CLUSTER_SCHEMA",
    "DECISION_SCHEMA",
    "REVIEW_QUEUE_SCHEMA",
    "ClusterDecisions",
    "DecisionStore",
    "Outcome",
    "ReviewDecision",
    "ReviewWorkload",
    "decide_clusters",
    "make_cluster_key",
    "review_workload",
]
