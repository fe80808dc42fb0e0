"""How golden values are written, and what a merge instruction may write on a card."""

import polars as pl

from dedup_pipeline.config import SurvivorshipConfig
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.survivorship import build_golden_profiles, build_merge_instructions
from dedup_pipeline.survivorship.spelling import is_typo_of, typo_groups
from tests.conftest import records_frame, source_record

CONFIG = SurvivorshipConfig(
    source_priority=["bitrix24", "hubspot", "webform"],
    fields={
        "first_name": "most_frequent",
        "middle_name": "most_complete",
        "last_name": "most_frequent",
        "full_name": "longest",
        "company": "source_priority",
        "city": "most_recent",
    },
)
NAMES = ("first_name", "middle_name", "last_name", "full_name")


def one_client(*records):
    """Normalised contacts of ``records`` and a cluster holding all of them."""
    contacts = normalize_contacts(records_frame(*records)).contacts
    ids = contacts.get_column("record_id").sort().to_list()
    clusters = pl.DataFrame(
        {
            "record_id": ids,
            "cluster_id": [ids[0]] * len(ids),
            "cluster_size": [len(ids)] * len(ids),
            "outcome": ["auto_merge"] * len(ids),
            "confidence": [0.999] * len(ids),
            "review_cluster_id": [None] * len(ids),
        },
        schema_overrides={"cluster_size": pl.UInt32, "review_cluster_id": pl.String},
    )
    return contacts, clusters


def profile(contacts, clusters, config=CONFIG):
    profiles = build_golden_profiles(contacts, clusters, config=config)
    assert profiles.height == 1
    return profiles.row(0, named=True)


def set_fields(contacts, clusters, profiles, source="bitrix24"):
    instructions = build_merge_instructions(
        contacts, clusters, profiles, config=CONFIG, merge_targets=[source]
    )
    assert instructions.height <= 1  # none: the card needs no change
    if instructions.is_empty():
        return {}
    return {k: v for k, v in instructions.row(0, named=True)["set_fields"].items() if v}


def scripts(row):
    text = " ".join(row[field] or "" for field in NAMES)
    return {
        script
        for script, letters in (("cyrillic", "[А-Яа-яЁё]"), ("latin", "[A-Za-z]"))
        if pl.select(pl.lit(text).str.contains(letters)).item()
    }


def test_a_typo_votes_with_the_name_it_misspells_and_never_wins():
    # Two records typed "Анттон": counted as typed, the typo would outvote "Антон".
    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Анттон", last_name="Иванов"),
        source_record("bitrix24", "2", first_name="Анттон", last_name="Иванов"),
        source_record("hubspot", "3", first_name="Антон", last_name="Иванов"),
        source_record("webform", "4", full_name="Anton Ivanov"),
    )
    row = profile(contacts, clusters)
    assert (row["first_name"], row["last_name"]) == ("Антон", "Иванов")
    assert row["full_name"] == "Антон Иванов"


def test_one_latin_lead_does_not_put_a_latin_name_beside_a_cyrillic_surname():
    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Антон", last_name="Иванов"),
        source_record("webform", "2", full_name="Anton", updated_at="2026-01-01T00:00:00"),
        source_record("webform", "3", full_name="Anton", updated_at="2026-01-02T00:00:00"),
    )
    config = SurvivorshipConfig(
        source_priority=CONFIG.source_priority, fields={"first_name": "most_recent"}
    )
    row = profile(contacts, clusters, config)

    assert (row["first_name"], row["last_name"]) == ("Антон", "Иванов")


def test_a_name_typed_only_in_latin_comes_from_the_name_tables():
    contacts, clusters = one_client(
        source_record(
            "bitrix24", "1", first_name="Sergey", middle_name="Иванович", last_name="Петров"
        ),
        source_record("hubspot", "2", last_name="Петров"),
    )
    row = profile(contacts, clusters)
    assert (row["first_name"], row["middle_name"], row["last_name"]) == (
        "Сергей",
        "Иванович",
        "Петров",
    )
    assert row["full_name"] == "Сергей Иванович Петров"
    assert row["first_name_source_record_id"] == "bitrix24:1"


def test_a_profile_that_cannot_be_cyrillic_throughout_is_latin_throughout():
    # The surname exists only in Latin: no table spells a surname, so the profile is
    # romanised rather than mixed.
    contacts, clusters = one_client(
        source_record(
            "bitrix24", "1", first_name="Anastasiya", middle_name="Сергеевна", last_name="Popova"
        ),
    )
    row = profile(contacts, clusters)
    assert (row["first_name"], row["middle_name"], row["last_name"]) == (
        "Anastasiya",
        "Sergeevna",
        "Popova",
    )
    assert scripts(row) == {"latin"}


def test_a_city_is_written_out_and_in_the_profiles_script():
    contacts, clusters = one_client(
        source_record(
            "bitrix24",
            "1",
            first_name="Антон",
            city="Санкт-Петербург",
            updated_at="2024-01-01T00:00:00",
        ),
        source_record(
            "hubspot", "2", first_name="Anton", city="Saint Petersburg", updated_at="2025-01-01"
        ),
        # The most recent record says "СПб": the city it names wins, not its spelling.
        source_record("webform", "3", full_name="Антон", city="СПб", updated_at="2026-01-01"),
    )
    row = profile(contacts, clusters)
    assert row["city"] == "Санкт-Петербург"
    assert row["city_source_record_id"] == "webform:3"


def test_no_instruction_writes_a_shorter_or_other_script_value_on_a_card():
    contacts, clusters = one_client(
        source_record(
            "bitrix24", "1", first_name="Антон", last_name="Иванов", city="Санкт-Петербург"
        ),
        source_record("webform", "2", full_name="Anton Ivanov", city="СПб"),
    )
    # A profile that (by whatever rules) holds "СПб" and Latin names.
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG).with_columns(
        first_name=pl.lit("Anton"),
        last_name=pl.lit("Ivanov"),
        full_name=pl.lit("Anton Ivanov"),
        city=pl.lit("СПб"),
    )
    assert set_fields(contacts, clusters, profiles) == {}


def test_an_instruction_fixes_a_typo_but_keeps_a_full_name_from_a_diminutive():
    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Анттон", last_name="Иванов"),
        source_record("hubspot", "2", first_name="Антон", last_name="Иванов"),
        source_record("hubspot", "3", first_name="Антон", last_name="Иванов"),
    )
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    assert set_fields(contacts, clusters, profiles)["first_name"] == "Антон"

    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Кирилл", last_name="Орлов"),
        source_record("hubspot", "2", first_name="Кирюша", last_name="Орлов"),
        source_record("hubspot", "3", first_name="Кирюша", last_name="Орлов"),
    )
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    assert profile(contacts, clusters)["first_name"] == "Кирюша"
    assert "first_name" not in set_fields(contacts, clusters, profiles)


def test_a_latin_card_receives_the_profiles_names_in_latin():
    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Ольга", middle_name="Петровна", last_name="Ким"),
        source_record("bitrix24", "2", first_name="Ольга", last_name="Ким"),
        source_record("hubspot", "3", first_name="Olga", last_name="Kim"),
    )
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    assert profiles.row(0, named=True)["middle_name"] == "Петровна"
    written = set_fields(contacts, clusters, profiles, source="hubspot")
    assert written["middle_name"] == "Petrovna"
    assert "first_name" not in written and "last_name" not in written


def test_typo_groups_join_keys_one_edit_apart_within_a_cluster():
    candidates = pl.DataFrame(
        {
            "cluster_id": ["a", "a", "a", "a", "b", "b"],
            "key": ["antton", "anton", "anton", "sasha", "anton", "anotn"],
        }
    )
    grouped = typo_groups(candidates, by="cluster_id", key="key")
    assert grouped.get_column("group").to_list() == [
        "anton",
        "anton",
        "anton",
        "sasha",
        "anotn",  # a swap is one edit too; ties go to the alphabetically first key
        "anotn",
    ]


def test_is_typo_of_needs_exactly_one_extra_letter():
    pairs = pl.DataFrame(
        {
            "value": ["Анттон", "Александр", "Иванова", "Ивн"],
            "other": ["Антон", "Саша", "Иванов", "Ив"],
        }
    )
    assert is_typo_of(pairs, "value", "other").to_list() == [True, False, True, False]


def test_two_listed_names_a_letter_apart_are_two_names_not_a_typo():
    candidates = pl.DataFrame(
        {
            "cluster_id": ["a"] * 4,
            "key": ["olya", "olga", "olga", "antton"],
            "known": [True, True, True, False],
        }
    )
    grouped = typo_groups(candidates, by="cluster_id", key="key", known="known")
    assert grouped.get_column("group").to_list() == ["olya", "olga", "olga", "antton"]


def test_surname_typos_vote_together():
    contacts, clusters = one_client(
        source_record("bitrix24", "1", first_name="Иван", last_name="Сидоров"),
        source_record("hubspot", "2", first_name="Иван", last_name="Иванов"),
        source_record("hubspot", "3", first_name="Иван", last_name="Ивановв"),
    )
    assert profile(contacts, clusters)["last_name"] == "Иванов"
