from pathlib import Path

import pytest

from dedup_pipeline.config import ConfigError, SurvivorshipRule, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
sources:
  - name: crm
    path: data/crm.csv
    columns:
      source_record_id: ID
      phones: [Рабочий телефон, Мобильный телефон]
      emails: Email
"""


def test_sample_config_loads_with_paths_anchored_at_its_directory():
    config = load_config(ROOT / "configs" / "sample.yaml")
    assert [s.name for s in config.sources] == ["bitrix24", "hubspot", "webform"]
    assert config.sources[0].path == ROOT / "data" / "sample" / "bitrix24_contacts.csv"
    assert config.sources[0].columns.phones == ["Рабочий телефон", "Мобильный телефон"]
    assert config.sources[2].merge_target is False
    assert config.survivorship.rule_for("phones") is SurvivorshipRule.UNION


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.sources[0].path == tmp_path / "data" / "crm.csv"
    assert config.sources[0].columns.emails == ["Email"]
    assert config.output.directory == tmp_path / "output"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: configuration file not found"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "sources: [\n"))


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("    default_region: XX\n", r"sources\[0\]\.default_region: .*not a phone region"),
        ("    colour: red\n", r"sources\[0\]\.colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_fields_are_named(tmp_path, patch, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, MINIMAL + patch))


def test_unknown_source_in_priority_is_rejected(tmp_path):
    text = MINIMAL + "survivorship:\n  source_priority: [crm, amo]\n"
    with pytest.raises(ConfigError, match=r"undeclared source.*amo"):
        load_config(write(tmp_path, text))


def test_union_only_for_list_fields(tmp_path):
    text = MINIMAL + "survivorship:\n  fields:\n    city: union\n"
    with pytest.raises(ConfigError, match="'union' applies to phones and emails only"):
        load_config(write(tmp_path, text))


def test_thresholds_must_be_ordered(tmp_path):
    text = MINIMAL + "decision:\n  auto_merge_threshold: 0.7\n  review_threshold: 0.9\n"
    with pytest.raises(ConfigError, match="review_threshold must not exceed"):
        load_config(write(tmp_path, text))


def test_mapping_needs_an_identifying_field(tmp_path):
    text = """
sources:
  - name: crm
    path: crm.csv
    columns: {source_record_id: ID, city: City}
"""
    with pytest.raises(ConfigError, match="map at least one of"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("rule", ["union", "longest", "most_frequent"])
def test_survivor_rule_must_rank_whole_records(tmp_path, rule):
    # These rules compare one field's values; the survivor is a whole record.
    text = MINIMAL + f"survivorship:\n  survivor: {rule}\n"
    with pytest.raises(ConfigError, match="cannot choose a survivor record"):
        load_config(write(tmp_path, text))


def test_review_store_defaults_to_sqlite_in_the_output_directory(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert (
        config.review.url
        == f"sqlite:///{(tmp_path / 'output' / 'review' / 'decisions.sqlite').as_posix()}"
    )
    custom = load_config(write(tmp_path, MINIMAL + "review: {database: decisions/d.sqlite}\n"))
    assert custom.review.database == tmp_path / "decisions" / "d.sqlite"
    url = load_config(write(tmp_path, MINIMAL + "review: {database_url: 'postgresql://h/db'}\n"))
    assert url.review.url == "postgresql://h/db"


def test_review_store_takes_a_path_or_a_url_not_both(tmp_path):
    text = MINIMAL + "review: {database: a.sqlite, database_url: 'sqlite:///b.sqlite'}\n"
    with pytest.raises(ConfigError, match=r"review: Value error, set review\.database or"):
        load_config(write(tmp_path, text))
