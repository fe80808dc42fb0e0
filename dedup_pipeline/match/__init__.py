"""Match stage: Splink scores candidate pairs of contacts and clusters them."""

from dedup_pipeline.match.incremental import IncrementalMatch
from dedup_pipeline.match.model import (
    SCORED_PAIRS_SCHEMA,
    BlockingExplosionError,
    IncompatibleModelError,
    MatchResult,
    build_settings,
    check_model_compatible,
    name_conflict_sql,
    prediction_rules,
    score_and_cluster,
    u_among_non_matches,
)
from dedup_pipeline.match.prepare import (
    MATCH_INPUT_SCHEMA,
    SHARED_IDENTIFIER_SCHEMA,
    prepare_match_input,
)
from dedup_pipeline.match.run import (
    PreparedContacts,
    match_contacts,
    match_contacts_incrementally,
    placed_records,
)
from dedup_pipeline.match.saved import MODEL_FILE, load_model, save_model
from dedup_pipeline.match.scoring import expected_match_rate

__all__ = [
    "MATCH_INPUT_SCHEMA",
    "MODEL_FILE",
    "SCORED_PAIRS_SCHEMA",
    "SHARED_IDENTIFIER_SCHEMA",
    "BlockingExplosionError",
    "IncompatibleModelError",
    "IncrementalMatch",
    "MatchResult",
    "PreparedContacts",
    "build_settings",
    "check_model_compatible",
    "expected_match_rate",
    "load_model",
    "match_contacts",
    "match_contacts_incrementally",
    "name_conflict_sql",
    "placed_records",
    "prediction_rules",
    "prepare_match_input",
    "save_model",
    "score_and_cluster",
    "u_among_non_matches",
]
