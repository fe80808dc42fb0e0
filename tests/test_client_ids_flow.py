"""Client ids last across runs of the sample: same input, same ids; a new duplicate
placed by the nightly (incremental) run joins its client's id and nothing unrelated
changes; a deleted record leaves its client; clients a reviewer merges or splits get the
documented id outcomes."""

import json
from pathlib import Path

import polars as pl

from assets.run import run_full_sweep
from dedup_pipeline.config import load_config
from dedup_pipeline.enrich import PROFILE_ENRICHMENT_SCHEMA
from dedup_pipeline.review import DecisionStore, ReviewDecision
from dedup_pipeline.survivorship import build_golden_profiles
from tests.conftest import sample_config_in, warehouse_tables


def _tables(config_path: Path) -> dict[str, pl.DataFrame]:
    return warehouse_tables(
        config_path,
        "clusters",
        "golden_profiles",
        "client_registry",
        "client_id_events",
        "run_report",
    )


def test_ids_last_across_runs_and_a_new_duplicate_joins_its_client(tmp_path):
    config_path = sample_config_in(tmp_path, own_leads=True)
    leads = tmp_path / "webform_leads.jsonl"

    run_full_sweep(config_path)
    first = _tables(config_path)
    ids = dict(first["clusters"].select("record_id", "cluster_id").iter_rows())
    assert all(client.startswith("CL") for client in ids.values())
    assert set(first["golden_profiles"]["cluster_id"]) == set(ids.values())
    created = first["client_id_events"]
    assert set(created["event"]) == {"created"}
    assert created.height == len(set(ids.values()))

    second = run_full_sweep(config_path)
    again = _tables(config_path)
    assert second.client_changes["unchanged"] == len(set(ids.values()))
    assert sum(second.client_changes.values()) == second.client_changes["unchanged"]
    assert dict(again["clusters"].select("record_id", "cluster_id").iter_rows()) == ids
    assert again["client_id_events"].height == created.height  # no new events

    # A client of several records sends the web form again: same name, phone and e-mail.
    merged = first["clusters"].filter(
        (pl.col("cluster_size") >= 2) & pl.col("record_id").str.starts_with("webform:")
    )
    original_id = merged.row(0, named=True)["record_id"].removeprefix("webform:")
    for line in leads.read_text(encoding="utf-8").splitlines():
        if f'"lead_id":"{original_id}"' in line:
            lead = json.loads(line)
            break
    with leads.open("a", encoding="utf-8") as file:
        file.write(json.dumps({**lead, "lead_id": "L-NEW-1"}, ensure_ascii=False) + "\n")

    # The nightly run places the new record with the last run's model.
    report = run_full_sweep(config_path, mode="incremental")
    third = _tables(config_path)
    now = dict(third["clusters"].select("record_id", "cluster_id").iter_rows())
    assert now["webform:L-NEW-1"] == ids[f"webform:{original_id}"]
    assert {record: now[record] for record in ids} == ids  # nothing unrelated moved
    assert third["client_id_events"].height == created.height
    assert report.accounting.balanced
    assert report.client_changes["changed"] == 1  # the client the lead joined
    assert report.client_changes["created"] == report.client_changes["merged"] == 0
    # Only the touched profile was rebuilt, and the profiles equal a full rebuild.
    config = load_config(config_path)
    contacts = warehouse_tables(config_path, "contacts")["contacts"]
    rebuilt = build_golden_profiles(contacts, third["clusters"], config=config.survivorship)
    stored = third["golden_profiles"].sort("cluster_id")
    assert stored.select(rebuilt.columns).equals(rebuilt)
    # The enrichment summary is recomputed for every profile on top.
    assert set(PROFILE_ENRICHMENT_SCHEMA) <= set(stored.columns)

    # The lead is deleted at the source: it leaves its client, whose id stays.
    leads.write_text(
        "".join(
            line + "\n"
            for line in leads.read_text(encoding="utf-8").splitlines()
            if "L-NEW-1" not in line
        ),
        encoding="utf-8",
    )
    run_full_sweep(config_path, mode="incremental")
    fourth = _tables(config_path)
    assert dict(fourth["clusters"].select("record_id", "cluster_id").iter_rows()) == ids
    # The warehouse keeps the history of runs.
    history = fourth["run_report"].sort("finished_at")
    assert history["mode"].to_list() == ["full", "full", "incremental", "incremental"]


def test_reviewers_merge_and_split_real_clients_and_ids_follow_the_rules(tmp_path):
    """On the sample: a reviewer approves a proposal joining clients and splits an
    automatic client; the nightly run gives the survivor the oldest id and redirects the
    others, and the split-off part a new id recorded as split from the original."""
    config_path = sample_config_in(tmp_path)
    run_full_sweep(config_path)
    first = _tables(config_path) | warehouse_tables(config_path, "review_queue")
    client_of = dict(first["clusters"].select("record_id", "cluster_id").iter_rows())

    proposal = next(
        row
        for row in first["review_queue"].iter_rows(named=True)
        if len({client_of[record] for record in row["record_ids"]}) >= 2
    )
    joined = sorted({client_of[record] for record in proposal["record_ids"]})
    # A client of three or more records the machine merged, away from the proposal.
    sizes = first["clusters"].filter(
        (pl.col("outcome") == "auto_merge")
        & (pl.col("cluster_size") >= 3)
        & ~pl.col("cluster_id").is_in(joined)
    )
    split_client = sizes.item(0, "cluster_id")
    members = sorted(sizes.filter(pl.col("cluster_id") == split_client)["record_id"])
    with DecisionStore(load_config(config_path).review.url) as store:
        store.add_user("alice", "correct horse")
        store.record(
            ReviewDecision(action="approve", record_ids=proposal["record_ids"], reviewer="alice")
        )
        store.record(
            ReviewDecision(
                action="split",
                record_ids=members,
                groups=[members[:1], members[1:]],
                reviewer="alice",
            )
        )

    report = run_full_sweep(config_path, mode="incremental")
    second = _tables(config_path)
    now = dict(second["clusters"].select("record_id", "cluster_id").iter_rows())
    registry = {row["client_id"]: row for row in second["client_registry"].iter_rows(named=True)}
    this_run = second["client_id_events"].filter(
        ~pl.col("run_id").is_in(first["client_id_events"]["run_id"].implode())
    )

    # Merge: the oldest (smallest) id survives, the others redirect to it.
    survivor = joined[0]
    assert {now[record] for record in proposal["record_ids"]} == {survivor}
    for merged in joined[1:]:
        assert registry[merged]["status"] == "merged"
        assert registry[merged]["redirect_to"] == survivor
        assert (
            this_run.filter(
                (pl.col("event") == "merged")
                & (pl.col("client_id") == merged)
                & (pl.col("related_client_id") == survivor)
            ).height
            == 1
        )
    # Split: the larger part keeps the id; the other gets a new one, split from it.
    assert {now[record] for record in members[1:]} == {split_client}
    split_off = now[members[0]]
    assert split_off not in client_of.values()
    assert (
        this_run.filter(
            (pl.col("event") == "split")
            & (pl.col("client_id") == split_off)
            & (pl.col("related_client_id") == split_client)
        ).height
        == 1
    )
    assert report.client_changes["merged"] == 1
    assert report.client_changes["split"] == 1
    assert report.client_changes["redirected"] == len(joined) - 1
    assert report.accounting.balanced
