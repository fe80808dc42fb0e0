"""Decisions recorded in the store are honoured by the next run, end to end."""

import json
from pathlib import Path

import polars as pl
import pytest

from assets.run import run_full_sweep
from dedup_pipeline.config import load_config
from dedup_pipeline.review import DecisionStore, ReviewDecision
from dedup_pipeline.review.versions import record_versions
from tests.conftest import sample_config_in, warehouse_tables


def _tables(config_path: Path) -> dict[str, pl.DataFrame]:
    return warehouse_tables(config_path, "clusters", "review_queue", "merge_instructions")


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


def test_a_decision_comes_back_when_one_of_its_records_changes(tmp_path):
    config_path = sample_config_in(tmp_path, own_leads=True)
    leads = tmp_path / "webform_leads.jsonl"
    run_full_sweep(config_path)
    config = load_config(config_path)
    queue = _tables(config_path)["review_queue"]
    with_lead = queue.filter(
        pl.col("record_ids").list.eval(pl.element().str.starts_with("webform:")).list.any()
    )
    changing = with_lead.row(0, named=True)["record_ids"]
    unchanged = queue.filter(
        ~pl.col("record_ids").list.eval(pl.element().is_in(changing)).list.any()
    ).row(0, named=True)["record_ids"]
    # What the review app stores: the versions of the records in the exported contacts.
    contacts = pl.read_parquet(config.output.directory / "contacts.parquet")
    seen = dict(record_versions(contacts).iter_rows())
    with DecisionStore(config.review.url) as store:
        store.add_user("alice", "correct horse")
        for records in (changing, unchanged):
            store.record(
                ReviewDecision(
                    action="reject",
                    record_ids=records,
                    reviewer="alice",
                    record_versions={record: seen[record] for record in records},
                )
            )

    # The lead is edited at the source: its name is now written in capitals.
    lead_id = next(r for r in changing if r.startswith("webform:")).removeprefix("webform:")
    lines = []
    for line in leads.read_text(encoding="utf-8").splitlines():
        if f'"lead_id":"{lead_id}"' in line:  # other lines stay as they are, broken ones too
            lead = json.loads(line)
            line = json.dumps({**lead, "name": lead["name"].upper()}, ensure_ascii=False)
        lines.append(line)
    leads.write_text("\n".join(lines) + "\n", encoding="utf-8")

    run_full_sweep(config_path)
    queue = _tables(config_path)["review_queue"]
    asked = {tuple(sorted(ids)): flags for ids, flags in queue.select("record_ids", "flags").rows()}
    assert tuple(sorted(unchanged)) not in asked
    back = [flags for ids, flags in asked.items() if set(changing) <= set(ids)]
    assert back and "records_changed" in back[0]
