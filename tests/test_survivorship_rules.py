"""Survivorship rules beyond the sort orders: valid-first, per-field source order, trust
with recency decay, and custom rules named in the configuration."""

import re

import pytest
import yaml
from pydantic import ValidationError

from dedup_pipeline.config import ConfigError, SurvivorshipConfig, load_config
from dedup_pipeline.survivorship import build_golden_profiles
from dedup_pipeline.survivorship.golden import CustomRuleError
from tests.conftest import sample_config_in, source_record
from tests.test_golden_spelling import one_client

SOURCES = ["bitrix24", "hubspot", "webform"]


def golden(contacts, clusters, **survivorship):
    config = SurvivorshipConfig(source_priority=SOURCES, **survivorship)
    return build_golden_profiles(contacts, clusters, config=config).row(0, named=True)


@pytest.fixture
def client():
    return one_client(
        source_record(
            "bitrix24",
            "1",
            first_name="Christopher",
            last_name="Robinson",
            company="ООО «Ромашка»",
            city="Москва",
            updated_at="2023-01-01T00:00:00",
        ),
        source_record(
            "hubspot",
            "2",
            first_name="Chrris",
            last_name="Robinson",
            company="Вектор",
            city="Казань",
            updated_at="2026-01-01T00:00:00",
        ),
        source_record(
            "webform", "3", full_name="C. Robinson", city="Самара", updated_at="2025-06-01"
        ),
    )


def test_valid_first_takes_a_known_name_over_a_more_recent_typo(client):
    assert golden(*client, fields={"first_name": "most_recent"})["first_name"] == "Chrris"
    row = golden(*client, fields={"first_name": "valid_first"})
    assert row["first_name"] == "Christopher"
    assert row["first_name_source_record_id"] == "bitrix24:1"


def test_a_field_can_order_the_sources_its_own_way(client):
    assert golden(*client, fields={"company": "source_priority"})["company"] == "ООО «Ромашка»"
    row = golden(
        *client,
        fields={"company": {"rule": "source_priority", "source_priority": ["hubspot"]}},
    )
    assert (row["company"], row["company_source_record_id"]) == ("Вектор", "hubspot:2")


def test_trust_decays_with_the_age_of_the_update(client):
    trust = {"bitrix24": 0.9, "hubspot": 0.6, "webform": 0.3}
    # Three years older than HubSpot's value: 0.9 / 8 < 0.6 with a one-year half-life.
    row = golden(*client, fields={"city": "trust"}, trust=trust)
    assert (row["city"], row["city_source_record_id"]) == ("Казань", "hubspot:2")
    # Decaying slowly, the more trusted source keeps its value.
    row = golden(*client, fields={"city": "trust"}, trust=trust, trust_half_life_days=3650)
    assert row["city"] == "Москва"
    # Trust per field: HubSpot is not trusted for cities.
    per_field = {**trust, "hubspot": {"city": 0.05, "default": 0.9}}
    row = golden(*client, fields={"city": "trust"}, trust=per_field)
    assert row["city"] == "Самара"  # webform: 0.3, seven months older (0.2 > 0.9 / 8)


def test_a_custom_rule_named_in_the_config_chooses_the_value(client):
    row = golden(
        *client,
        fields={"city": {"rule": "custom", "function": "tests.custom_rules:prefer_web_form"}},
    )
    assert (row["city"], row["city_source_record_id"]) == ("Самара", "webform:3")


def test_a_custom_rule_must_choose_one_value_per_client(client):
    with pytest.raises(CustomRuleError, match="more than one value for a client"):
        golden(
            *client,
            fields={"city": {"rule": "custom", "function": "tests.custom_rules:two_per_client"}},
        )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fields": {"city": {"rule": "custom"}}}, "needs function"),
        ({"fields": {"city": {"rule": "trust", "function": "x:y"}}}, "custom rule only"),
        ({"fields": {"phones": "valid_first"}}, "single-value fields"),
        ({"survivor": "trust"}, "cannot choose a survivor"),
        ({"trust": {"hubspot": 1.5}}, "from 0 to 1"),
    ],
)
def test_rules_that_cannot_work_are_refused_when_the_config_loads(settings, message):
    with pytest.raises(ValidationError, match=message):
        SurvivorshipConfig(source_priority=SOURCES, **settings)


def _with_survivorship(config_path, **settings) -> None:
    """Add survivorship settings (fields merged into the sample's) to a config file."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    fields = settings.pop("fields", {})
    config["survivorship"].update(settings)
    config["survivorship"]["fields"].update(fields)
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def test_a_custom_rule_file_is_read_next_to_the_config(tmp_path, client):
    config_path = sample_config_in(tmp_path)
    (tmp_path / "rules.py").write_text(
        "import polars as pl\n\n\ndef web(candidates):\n"
        "    return candidates.filter(pl.col('source') == 'webform')"
        ".select('cluster_id', 'record_id')\n",
        encoding="utf-8",
    )
    _with_survivorship(config_path, fields={"city": {"rule": "custom", "function": "rules.py:web"}})
    config = load_config(config_path)
    row = build_golden_profiles(*client, config=config.survivorship).row(0, named=True)
    assert (row["city"], row["city_source_record_id"]) == ("Самара", "webform:3")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"fields": {"city": {"rule": "custom", "function": "tests.nowhere:rule"}}},
            "survivorship.fields.city: custom rule function 'tests.nowhere:rule' cannot be "
            "imported",
        ),
        ({"trust": {"crm2": 0.9}}, "survivorship.trust names undeclared source(s): crm2"),
        (
            {"fields": {"company": {"rule": "source_priority", "source_priority": ["crm2"]}}},
            "survivorship.fields.company.source_priority names undeclared source(s): crm2",
        ),
    ],
)
def test_a_config_naming_what_does_not_exist_is_refused(tmp_path, settings, message):
    config_path = sample_config_in(tmp_path)
    _with_survivorship(config_path, **settings)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(config_path)
