"""Match stage: Splink scores candidate pairs of contacts and clusters them."""

from dedup_pipeline.match.model import (
    SCORED_PAIRS_SCHEMA,
    BlockingExplosionError,
    MatchResult,
    build_settings,
    name_conflict_sql,
    prediction_rules,
    score_and_cluster,
)
from dedup_pipeline.match.prepare import (
    MATCH_INPUT_SCHEMA,
    SHARED_IDENTIFIER_SCHEMA,
    prepare_match_input,
)
from dedup_pipeline.match.run import match_contacts

__all__ = [
    "MATCH_INPUT_SCHEMA",
    "SCORED_PAIRS_SCHEMA",
    "SHARED_IDENTIFIER_SCHEMA",
    "BlockingExplosionError",
    "MatchResult",
    "build_settings",
    "match_contacts",
    "name_conflict_sql",
    "prediction_rules",
    "prepare_match_input",
    "score_and_cluster",
]
