"""New decisions start a run that applies them without re-running the matching."""

from pathlib import Path

import polars as pl
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from assets.definitions import build_definitions
from assets.resources import ReviewStore
from assets.run import run_full_sweep
from assets.sensors import APPLY_REVIEW_DECISIONS_JOB, new_review_decisions
from dedup_pipeline.config import load_config
from dedup_pipeline.review import DecisionStore, ReviewDecision
from tests.conftest import sample_config_in, warehouse_tables


def _read(config_path: Path, name: str) -> pl.DataFrame:
    return warehouse_tables(config_path, name)[name]


def test_new_decisions_trigger_the_apply_job(tmp_path):
    config_path = sample_config_in(tmp_path)
    run_full_sweep(config_path)
    url = load_config(config_path).review.url
    store_resource = ReviewStore(url=url)

    with build_sensor_context(resources={"review_store": store_resource}) as context:
        assert isinstance(new_review_decisions(context), SkipReason)

    proposal = _read(config_path, "review_queue").row(0, named=True)["record_ids"]
    with DecisionStore(url) as store:
        store.add_user("alice", "pw-for-alice")
        store.record(ReviewDecision(action="approve", record_ids=proposal, reviewer="alice"))

    with build_sensor_context(resources={"review_store": store_resource}) as context:
        result = new_review_decisions(context)
    assert [type(r) for r in result.run_requests] == [RunRequest]
    with build_sensor_context(
        resources={"review_store": store_resource}, cursor=result.cursor
    ) as context:
        assert isinstance(new_review_decisions(context), SkipReason)  # nothing new since

    job = build_definitions(config_path).resolve_job_def(APPLY_REVIEW_DECISIONS_JOB)
    with DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance).success
    clusters = _read(config_path, "clusters").filter(pl.col("record_id").is_in(proposal))
    assert clusters.get_column("cluster_id").n_unique() == 1
    assert set(clusters.get_column("outcome")) == {"approved"}
