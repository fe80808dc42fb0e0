"""Blacklist and junk through the whole asset graph on the sample, nightly runs included."""

from pathlib import Path

import polars as pl
import pytest

from assets.run import run_full_sweep
from tests.conftest import sample_config_in, warehouse_tables

TABLES = ("clusters", "merge_instructions", "flagged_records", "review_queue", "data_health")


def _outcome(tables, record_id: str) -> tuple[str, str]:
    row = tables["clusters"].filter(pl.col("record_id") == record_id).row(0, named=True)
    return row["outcome"], row["cluster_id"]


def _merged_records(tables) -> set[str]:
    instructions = tables["merge_instructions"]
    return set(instructions.get_column("cluster_record_ids").explode().drop_nulls().to_list())


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("blacklist")
    config_path = sample_config_in(directory)
    report = run_full_sweep(config_path)
    return config_path, report, warehouse_tables(config_path, *TABLES)


def test_bot_leads_of_the_sample_are_flagged_as_junk_and_merge_with_nobody(sample_run):
    _, report, tables = sample_run
    flagged = tables["flagged_records"]
    bots = flagged.get_column("record_id").to_list()
    # The sample's web form ends with six leads typed by bots (and no real client is junk).
    assert bots == [f"webform:L-{n:06d}" for n in range(934, 940)]
    assert flagged.get_column("reasons").to_list() == [["junk"]] * 6
    assert {_outcome(tables, bot)[0] for bot in bots} == {"flagged"}
    assert tables["clusters"].filter(pl.col("record_id").is_in(bots))["cluster_size"].max() == 1
    assert not _merged_records(tables) & set(bots)
    assert report.records_flagged == 6
    assert report.flag_reasons == {"junk": 6}
    assert report.accounting.balanced
    health = tables["data_health"].filter(pl.col("source") == "all")
    assert health.item(0, "flagged") == 6
    page = Path(report.outputs["health_report.html"]).read_text(encoding="utf-8")
    assert "Flagged records" in page and "No record was flagged" not in page


def test_a_blacklisted_address_takes_its_record_out_of_a_merge_nightly_and_back(sample_run):
    config_path, _, tables = sample_run
    clusters = tables["clusters"]
    contacts = warehouse_tables(config_path, "contacts")["contacts"]
    # A record of a merged client with an address no other record has, whose cluster mates
    # share a phone among themselves (so they still make a client without it).
    addresses = contacts.select("record_id", email="emails_normalized").explode("email")
    unique_addresses = addresses.filter(pl.len().over("email") == 1).drop_nulls()
    merged = clusters.filter((pl.col("outcome") == "auto_merge") & (pl.col("cluster_size") >= 3))
    phones = (
        contacts.select("record_id", phone="phones_e164")
        .explode("phone")
        .drop_nulls()
        .join(merged.select("record_id", "cluster_id"), on="record_id")
    )
    candidates = unique_addresses.join(merged, on="record_id").sort("record_id")
    target = next(
        row
        for row in candidates.iter_rows(named=True)
        if phones.filter(
            (pl.col("cluster_id") == row["cluster_id"]) & (pl.col("record_id") != row["record_id"])
        )
        .group_by("phone")
        .agg(pl.col("record_id").n_unique().alias("holders"))
        .filter(pl.col("holders") == row["cluster_size"] - 1)
        .height
    )

    record, email, client = target["record_id"], target["email"], target["cluster_id"]
    mates = set(merged.filter(pl.col("cluster_id") == client)["record_id"]) - {record}

    original = config_path.read_text(encoding="utf-8")
    config_path.write_text(original + f"blacklist:\n  emails: [{email.upper()}]\n", "utf-8")
    report = run_full_sweep(config_path, mode="incremental")
    listed = warehouse_tables(config_path, *TABLES)
    outcome, own_client = _outcome(listed, record)
    assert outcome == "flagged" and own_client != client
    flagged = listed["flagged_records"].filter(pl.col("record_id") == record).row(0, named=True)
    assert flagged["reasons"] == ["blacklisted_email"]
    assert flagged["detail"] == f"e-mail {email} is blacklisted"
    assert record not in _merged_records(listed)
    assert report.flag_reasons == {"blacklisted_email": 1, "junk": 6}
    # Its former cluster mates keep merging without it; nobody else moved.
    assert {_outcome(listed, mate)[0] for mate in mates} <= {"auto_merge", "review", "unique"}
    elsewhere = clusters.filter(~pl.col("record_id").is_in([record, *mates]))
    assert (
        elsewhere.select("record_id", "cluster_id", "outcome")
        .sort("record_id")
        .equals(
            listed["clusters"]
            .join(elsewhere.select("record_id"), on="record_id", how="semi")
            .select("record_id", "cluster_id", "outcome")
            .sort("record_id")
        )
    )

    config_path.write_text(original, "utf-8")
    report = run_full_sweep(config_path, mode="incremental")
    unlisted = warehouse_tables(config_path, *TABLES)
    assert _outcome(unlisted, record) == ("auto_merge", client)
    assert report.flag_reasons == {"junk": 6}
