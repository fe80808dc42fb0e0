"""A sensor that applies new review decisions without re-running the matching."""

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.resources import ReviewStore

__all__ = ["APPLY_REVIEW_DECISIONS_JOB", "apply_review_decisions_job", "new_review_decisions"]

APPLY_REVIEW_DECISIONS_JOB = "apply_review_decisions"

#: The decisions, and everything built from them: clusters, golden profiles, merge
#: instructions, exports. Matching results are read from the warehouse as they are.
apply_review_decisions_job = define_asset_job(
    APPLY_REVIEW_DECISIONS_JOB,
    selection=AssetSelection.assets("review_decisions").downstream(),
    description="Apply reviewers' new decisions: re-cluster, rebuild profiles and instructions.",
)


@sensor(
    job=apply_review_decisions_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Starts apply_review_decisions when reviewers record new decisions.",
)
def new_review_decisions(context: SensorEvaluationContext, review_store: ReviewStore):
    """Compare the newest decision id with the cursor; request a run when it moved on."""
    with review_store.open() as store:
        decisions = store.decisions(latest_only=False)
    newest = int(decisions.get_column("decision_id").max() or 0) if decisions.height else 0
    seen = int(context.cursor or 0)
    if newest <= seen:
        return SkipReason(f"no decision after #{seen}")
    fresh = decisions.filter(decisions.get_column("decision_id") > seen).height
    return SensorResult(
        run_requests=[
            RunRequest(run_key=f"decisions-up-to-{newest}", tags={"decisions": str(fresh)})
        ],
        cursor=str(newest),
    )
