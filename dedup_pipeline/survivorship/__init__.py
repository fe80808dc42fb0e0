"""Survivorship stage: configurable per-field rules build the golden client profile."""

from dedup_pipeline.survivorship.golden import (
    GOLDEN_PROFILE_SCHEMA,
    build_golden_profiles,
    record_rank_columns,
)
from dedup_pipeline.survivorship.instructions import (
    MERGE_INSTRUCTION_SCHEMA,
    MergeInstruction,
    build_merge_instructions,
)

__all__ = [
    "GOLDEN_PROFILE_SCHEMA",
    "MERGE_INSTRUCTION_SCHEMA",
    "MergeInstruction",
    "build_golden_profiles",
    "build_merge_instructions",
    "record_rank_columns",
]
