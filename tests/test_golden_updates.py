"""A nightly run rebuilds only the golden profiles whose inputs changed."""

import polars as pl
import pytest

from dedup_pipeline.config import SurvivorshipConfig, load_config
from dedup_pipeline.survivorship import build_golden_profiles
from dedup_pipeline.survivorship.golden import update_golden_profiles
from tests.conftest import normalized_sample_contacts, sample_config_in


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    config = load_config(sample_config_in(tmp_path_factory.mktemp("golden")))
    contacts = normalized_sample_contacts(config)
    # Clients by their true id: a stand-in for the decide stage's clusters.
    clusters = contacts.select(
        "record_id",
        cluster_id=pl.col("attributes").str.json_path_match("$.truth_client_id"),
        outcome=pl.lit("auto_merge"),
    ).with_columns(pl.col("cluster_id").fill_null(pl.col("record_id")))
    return config.survivorship, contacts, clusters


def test_unchanged_input_rebuilds_nothing(sample):
    config, contacts, clusters = sample
    previous = build_golden_profiles(contacts, clusters, config=config)
    profiles, rebuilt = update_golden_profiles(previous, contacts, clusters, config=config)
    assert rebuilt == 0
    assert profiles.equals(previous)


def test_rows_read_in_another_order_rebuild_nothing(sample):
    # The warehouse does not promise row order between runs.
    config, contacts, clusters = sample
    previous = build_golden_profiles(contacts, clusters, config=config)
    _, rebuilt = update_golden_profiles(
        previous,
        contacts.sample(fraction=1.0, shuffle=True, seed=1),
        clusters.reverse(),
        config=config,
    )
    assert rebuilt == 0


def test_changed_moved_and_new_records_rebuild_their_profiles_only(sample):
    config, contacts, clusters = sample
    previous = build_golden_profiles(contacts, clusters, config=config)
    first, second, third = clusters.get_column("cluster_id").unique().sort()[:3]
    # A record of the first client gets a new city; a record moves from the second
    # client to the third; a new record arrives for the third.
    changed = clusters.filter(pl.col("cluster_id") == first).item(0, "record_id")
    moved = clusters.filter(pl.col("cluster_id") == second).item(0, "record_id")
    contacts_now = contacts.with_columns(
        city=pl.when(pl.col("record_id") == changed).then(pl.lit("Тверь")).otherwise("city")
    )
    newcomer = contacts.filter(pl.col("record_id") == moved).with_columns(
        record_id=pl.lit("webform:NEW"), source=pl.lit("webform")
    )
    contacts_now = pl.concat([contacts_now, newcomer])
    clusters_now = pl.concat(
        [
            clusters.with_columns(
                cluster_id=pl.when(pl.col("record_id") == moved)
                .then(pl.lit(third))
                .otherwise("cluster_id")
            ),
            pl.DataFrame(
                {"record_id": ["webform:NEW"], "cluster_id": [third], "outcome": ["auto_merge"]}
            ),
        ]
    )
    profiles, rebuilt = update_golden_profiles(previous, contacts_now, clusters_now, config=config)
    expected = build_golden_profiles(contacts_now, clusters_now, config=config)
    assert profiles.equals(expected)
    assert rebuilt == (3 if clusters.filter(pl.col("cluster_id") == second).height > 1 else 2)


def test_new_survivorship_rules_rebuild_every_profile(sample):
    config, contacts, clusters = sample
    previous = build_golden_profiles(contacts, clusters, config=config)
    other = SurvivorshipConfig(source_priority=list(reversed(config.source_priority)))
    profiles, rebuilt = update_golden_profiles(previous, contacts, clusters, config=other)
    assert rebuilt == previous.height
    assert profiles.equals(build_golden_profiles(contacts, clusters, config=other))
