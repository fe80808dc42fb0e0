"""Decisions recorded in the store are honoured by the next run, end to end."""

from pathlib import Path

import polars as pl
import pytest

from assets.run import run_full_sweep
from dedup_pipeline.config import load_config
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.review import DecisionStore, ReviewDecision
from dedup_pipeline.sinks import read_table
from tests.conftest import sample_config_in


def _tables(config_path: Path) -> dict[str, pl.DataFrame]:
    config = load_config(config_path)
    connection = connect(config.warehouse, database=config.warehouse.path)
    try:
        return {
            name: read_table(connection, name)
            for name in ("clusters", "review_queue", "merge_instructions")
        }
    finally:
        connection.close()


@pytest.fixture(scope="module")
def sample_config(tmp_path_factory) -> Path:
    return sample_config_in(tmp_path_factory.mktemp("review_flow"))


def test_approved_and_rejected_proposals_bind_the_next_run(sample_config):
    run_full_sweep(sample_config)
    first = _tables(sample_config)
    queue = first["review_queue"]
    crm_only = queue.filter(
        pl.col("record_ids").list.eval(pl.element().str.starts_with("webform:").not_()).list.all()
    )
    to_approve = crm_only.row(0, named=True)["record_ids"]
    to_reject = queue.filter(
        ~pl.col("review_cluster_id").is_in([crm_only.row(0, named=True)["review_cluster_id"]])
    ).row(0, named=True)["record_ids"]

    with DecisionStore(load_config(sample_config).review.url) as store:
        store.add_user("alice", "correct horse")
        store.record(ReviewDecision(action="approve", record_ids=to_approve, reviewer="alice"))
        store.record(ReviewDecision(action="reject", record_ids=to_reject, reviewer="alice"))

    report = run_full_sweep(sample_config)
    second = _tables(sample_config)
    clusters = second["clusters"]
    approved = clusters.filter(pl.col("record_id").is_in(to_approve))
    assert approved.get_column("cluster_id").n_unique() == 1
    assert set(approved.get_column("outcome")) == {"approved"}
    assert report.clusters_approved >= 1
    rejected = clusters.filter(pl.col("record_id").is_in(to_reject))
    assert rejected.get_column("cluster_id").n_unique() == len(to_reject)

    # Neither proposal is asked again.
    asked = [sorted(ids) for ids in second["review_queue"].get_column("record_ids").to_list()]
    assert sorted(to_approve) not in asked and sorted(to_reject) not in asked
    # The approval reaches the CRMs as merge instructions.
    instructions = second["merge_instructions"].filter(pl.col("outcome") == "approved")
    merged = set(instructions.explode("cluster_record_ids").get_column("cluster_record_ids"))
    assert set(to_approve) <= merged
