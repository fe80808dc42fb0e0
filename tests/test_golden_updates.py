"""A nightly run rebuilds only the golden profiles and merge instructions whose inputs
changed."""

import polars as pl
import pytest

from dedup_pipeline.config import SurvivorshipConfig, load_config
from dedup_pipeline.survivorship import build_golden_profiles, build_merge_instructions
from dedup_pipeline.survivorship.golden import update_golden_profiles
from dedup_pipeline.survivorship.instructions import (
    instruction_keys,
    stored_keys,
    update_merge_instructions,
)
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


TARGETS = {"merge_targets": ["bitrix24", "hubspot"]}


def _with_confidence(clusters: pl.DataFrame) -> pl.DataFrame:
    return clusters.with_columns(confidence=pl.lit(0.995))


def _last_night(config, contacts, clusters):
    profiles = build_golden_profiles(contacts, clusters, config=config)
    instructions = build_merge_instructions(contacts, clusters, profiles, config=config, **TARGETS)
    keys = stored_keys(instruction_keys(clusters, profiles, **TARGETS), instructions)
    return profiles, instructions, keys


def test_unchanged_clients_keep_their_instructions(sample):
    config, contacts, clusters = sample
    clusters = _with_confidence(clusters)
    profiles, instructions, keys = _last_night(config, contacts, clusters)
    assert instructions.height > 100
    again, _, built = update_merge_instructions(
        instructions, keys, contacts, clusters, profiles, config=config, **TARGETS
    )
    assert built == 0
    assert again.equals(instructions)


def test_changed_clients_get_new_instructions_and_the_rest_are_copied(sample):
    config, contacts, clusters = sample
    clusters = _with_confidence(clusters)
    profiles, instructions, keys = _last_night(config, contacts, clusters)
    # A Bitrix24 record of a merged client gets a new city; a reviewer picks a survivor
    # in another client.
    merged = clusters.filter(pl.col("cluster_id").is_duplicated())
    changed = merged.filter(pl.col("record_id").str.starts_with("bitrix24:")).item(0, "record_id")
    chosen = merged.filter(pl.col("record_id").str.starts_with("hubspot:")).item(0, "record_id")
    contacts_now = contacts.with_columns(
        city=pl.when(pl.col("record_id") == changed).then(pl.lit("Тверь")).otherwise("city")
    )
    profiles_now, _ = update_golden_profiles(profiles, contacts_now, clusters, config=config)
    options = {"config": config, "preferred_survivors": [chosen], **TARGETS}

    updated, _, built = update_merge_instructions(
        instructions, keys, contacts_now, clusters, profiles_now, **options
    )

    assert built == 2
    assert updated.equals(build_merge_instructions(contacts_now, clusters, profiles_now, **options))
    assert not updated.equals(instructions)
    # Keys stored with other instructions (a run stopped between the two): all rebuilt.
    _, _, rebuilt = update_merge_instructions(
        instructions.head(10), keys, contacts_now, clusters, profiles_now, **options
    )
    assert rebuilt == keys.height
