import json

import polars as pl
import pytest

from dedup_pipeline.config import SurvivorshipConfig
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.survivorship import build_golden_profiles, build_merge_instructions
from dedup_pipeline.survivorship.instructions import MergeInstruction, instructions_to_jsonl
from tests.conftest import records_frame, source_record


@pytest.fixture
def contacts():
    records = records_frame(
        source_record(
            "bitrix24",
            "1",
            first_name="ИВАН",
            last_name="Петров",
            company="ООО «Ромашка»",
            city="Москва",
            phones=["8 912 345-67-89"],
            emails=[],
            created_at="2022-01-01T10:00:00",
            updated_at="2023-01-01T10:00:00",
        ),
        source_record(
            "bitrix24",
            "2",
            first_name="Ваня",
            last_name="Петров",
            city="Казань",
            phones=["+7 916 111-22-33"],
            emails=["ivan@mail.ru"],
            created_at="2021-05-01T10:00:00",
            updated_at="2025-06-01T10:00:00",
        ),
        source_record(
            "hubspot",
            "9",
            first_name="Иван",
            last_name="Петров-Водкин",
            company="Romashka LLC",
            city="Moscow City",
            phones=["+79123456789"],
            emails=["Ivan@Mail.ru", "ivan.p@corp.ru"],
            created_at="2024-01-01T10:00:00",
            updated_at="2024-02-01T10:00:00",
        ),
        source_record("webform", "L-1", full_name="Иван Петров", phones=["89123456789"]),
        source_record("bitrix24", "3", first_name="Анна", last_name="Смирнова"),
    )
    return normalize_contacts(records).contacts


@pytest.fixture
def clusters():
    members = ["bitrix24:1", "bitrix24:2", "hubspot:9", "webform:L-1"]
    return pl.DataFrame(
        {
            "record_id": [*members, "bitrix24:3"],
            "cluster_id": ["bitrix24:1"] * 4 + ["bitrix24:3"],
            "cluster_size": [4, 4, 4, 4, 1],
            "outcome": ["auto_merge"] * 4 + ["unique"],
            "confidence": [0.995] * 4 + [None],
            "review_cluster_id": [None] * 5,
        },
        schema_overrides={"cluster_size": pl.UInt32, "review_cluster_id": pl.String},
    )


CONFIG = SurvivorshipConfig(
    source_priority=["bitrix24", "hubspot", "webform"],
    fields={
        "first_name": "most_frequent",
        "last_name": "longest",
        "company": "source_priority",
        "city": "most_recent",
        "phones": "union",
        "emails": "union",
    },
)


def golden_row(contacts, clusters, config=CONFIG):
    profiles = build_golden_profiles(contacts, clusters, config=config)
    assert profiles.height == 2
    return profiles.filter(pl.col("cluster_id") == "bitrix24:1").row(0, named=True)


def test_rules_pick_values_and_trace_their_records(contacts, clusters):
    row = golden_row(contacts, clusters)
    # most_frequent on the normalised name: three records say "иван", one "ваня".
    assert row["first_name"] == "Иван"
    assert row["first_name_source_record_id"] in {"bitrix24:1", "hubspot:9", "webform:L-1"}
    assert row["last_name"] == "Петров-Водкин"
    assert row["last_name_source_record_id"] == "hubspot:9"
    assert row["company"] == "ООО «Ромашка»"
    assert row["company_source_record_id"] == "bitrix24:1"
    assert row["city"] == "Казань"  # updated 2025, the most recent
    assert row["record_count"] == 4
    assert row["sources"] == ["bitrix24", "hubspot", "webform"]


def test_union_keeps_every_distinct_value_most_trusted_first(contacts, clusters):
    row = golden_row(contacts, clusters)
    assert row["phones"] == ["+79161112233", "+79123456789"]
    assert row["phones_source_record_ids"] == ["bitrix24:2", "bitrix24:1"]
    assert row["emails"] == ["ivan@mail.ru", "ivan.p@corp.ru"]


@pytest.mark.parametrize(
    ("rule", "expected_city"),
    [
        ("oldest", "Казань"),
        ("source_priority", "Казань"),  # tie inside bitrix24: the most recent update wins
        ("most_complete", "Moscow City"),
        ("longest", "Moscow City"),
    ],
)
def test_each_single_value_rule(contacts, clusters, rule, expected_city):
    fields = {**CONFIG.model_dump()["fields"], "city": {"rule": rule}}
    config = SurvivorshipConfig(source_priority=CONFIG.source_priority, fields=fields)
    row = golden_row(contacts, clusters, config)
    assert row["city"] == expected_city


def test_merge_instructions_per_crm(contacts, clusters):
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    instructions = build_merge_instructions(
        contacts, clusters, profiles, config=CONFIG, merge_targets=["bitrix24", "hubspot"]
    )
    assert instructions.get_column("instruction_id").to_list() == [
        "bitrix24:1/bitrix24",
        "bitrix24:1/hubspot",
    ]
    bitrix = instructions.row(0, named=True)
    # The oldest card survives inside one CRM (the survivor rule ties on source priority).
    assert bitrix["survivor_record_id"] == "2"
    assert bitrix["merged_record_ids"] == ["1"]
    assert bitrix["action"] == "merge"
    assert bitrix["set_fields"]["first_name"] == "Иван"
    assert bitrix["set_fields"]["city"] is None  # the survivor already holds the golden city
    hubspot = instructions.row(1, named=True)
    assert hubspot["action"] == "update"
    assert hubspot["merged_record_ids"] == []
    assert hubspot["cluster_record_ids"] == ["bitrix24:1", "bitrix24:2", "hubspot:9", "webform:L-1"]


def test_jsonl_lines_match_the_documented_model(contacts, clusters):
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    instructions = build_merge_instructions(
        contacts, clusters, profiles, config=CONFIG, merge_targets=["bitrix24", "hubspot"]
    )
    lines = instructions_to_jsonl(instructions).to_list()
    parsed = [MergeInstruction.model_validate(json.loads(line)) for line in lines]
    assert parsed[0].merged[0].source == "bitrix24"
    assert parsed[0].merged[0].source_record_id == "1"
    assert "city" not in parsed[0].set_fields  # unchanged fields are left out, not null
    assert parsed[0].set_fields["phones"] == ["+79161112233", "+79123456789"]


def test_committed_json_schema_matches_the_model():
    from pathlib import Path

    from dedup_pipeline.survivorship.instructions import merge_instruction_json_schema

    committed = Path(__file__).resolve().parent.parent / "docs" / "merge_instruction.schema.json"
    assert committed.read_text(encoding="utf-8") == merge_instruction_json_schema()


def test_single_value_rule_on_a_list_field_keeps_one_records_list(contacts, clusters):
    fields = {**CONFIG.model_dump()["fields"], "phones": {"rule": "most_recent"}}
    config = SurvivorshipConfig(source_priority=CONFIG.source_priority, fields=fields)
    row = golden_row(contacts, clusters, config)
    assert row["phones"] == ["+79161112233"]  # bitrix24:2, updated in 2025
    assert row["phones_source_record_ids"] == ["bitrix24:2"]


def test_clusters_approved_by_a_reviewer_get_merge_instructions(contacts, clusters):
    approved = clusters.with_columns(
        pl.when(pl.col("outcome") == "auto_merge")
        .then(pl.lit("approved"))
        .otherwise(pl.col("outcome"))
        .alias("outcome")
    )
    profiles = build_golden_profiles(contacts, approved, config=CONFIG)
    instructions = build_merge_instructions(
        contacts, approved, profiles, config=CONFIG, merge_targets=["bitrix24", "hubspot"]
    )
    assert instructions.get_column("outcome").to_list() == ["approved", "approved"]
    lines = instructions_to_jsonl(instructions).to_list()
    assert MergeInstruction.model_validate(json.loads(lines[0])).outcome == "approved"


def test_a_reviewers_chosen_survivor_wins_in_its_crm(contacts, clusters):
    profiles = build_golden_profiles(contacts, clusters, config=CONFIG)
    default = build_merge_instructions(
        contacts, clusters, profiles, config=CONFIG, merge_targets=["bitrix24", "hubspot"]
    )
    assert default.row(0, named=True)["survivor_record_id"] == "2"
    chosen = build_merge_instructions(
        contacts,
        clusters,
        profiles,
        config=CONFIG,
        merge_targets=["bitrix24", "hubspot"],
        preferred_survivors=["bitrix24:1"],
    )
    bitrix = chosen.row(0, named=True)
    assert bitrix["survivor_record_id"] == "1"
    assert bitrix["merged_record_ids"] == ["2"]
