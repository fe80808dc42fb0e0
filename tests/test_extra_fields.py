"""Extra match fields: configured, read from an export, normalised and compared."""

import json
from pathlib import Path

import polars as pl
import pytest

from dedup_pipeline.config import ColumnMapping, ConfigError, SourceConfig, load_config
from dedup_pipeline.match import prediction_rules, prepare_match_input
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.normalize.extra import normalize_date
from dedup_pipeline.sources import read_source

CONFIG = """
sources:
  - name: people
    path: people.csv
    columns:
      source_record_id: id
      first_name: first
      last_name: last
      extra: {dob: "Date of birth", postcode: zip}
match:
  extra_fields:
    dob: {comparison: date, blocking: true}
    postcode: {comparison: levenshtein, thresholds: [1]}
"""


def _write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_extra_fields_are_read_normalised_and_blocked_on(tmp_path):
    (tmp_path / "people.csv").write_text(
        "id,first,last,Date of birth,zip,note\n"
        "1,Anna,Smith,1990-02-03,SW1A 1AA,vip\n"
        "2,Anna,Smith,03.02.1990, sw1a 1aa ,\n"
        "3,Bob,Jones,,2000,\n",
        encoding="utf-8",
    )
    config = load_config(_write_config(tmp_path, CONFIG))
    records = read_source(config.sources[0]).records
    assert json.loads(records["extra"][0]) == {"dob": "1990-02-03", "postcode": "SW1A 1AA"}
    # Mapped extra columns are not passthrough attributes; unmapped ones still are.
    assert json.loads(records["attributes"][0]) == {"note": "vip"}

    contacts = normalize_contacts(records).contacts
    match_input, _ = prepare_match_input(
        contacts, max_block_size=50, extra_fields=config.match.extra_fields
    )
    assert match_input["dob"].to_list() == ["19900203", "19900203", None]
    assert match_input["postcode"].to_list() == ["sw1a 1aa", "sw1a 1aa", "2000"]
    assert match_input["dob_block"].to_list() == ["19900203", "19900203", None]
    assert "same dob" in prediction_rules(config.match)


def test_dates_in_common_formats_compare_equal():
    frame = pl.DataFrame({"d": ["1990-02-03", "19900203", "03.02.1990", "3/2/1990", "bad"]})
    assert frame.select(normalize_date(pl.col("d")))["d"].to_list() == [
        "19900203",
        "19900203",
        "19900203",
        "19900203",
        "bad",
    ]


@pytest.mark.parametrize(
    ("match_block", "message"),
    [
        ("extra_fields: {dob: {comparison: date}, tax_id: {}}", "not mapped by any source"),
        ("extra_fields: {}", "does not compare: dob"),
        ("extra_fields: {dob: {comparison: exact, thresholds: [1]}}", "exact comparison"),
        ("extra_fields: {dob: {comparison: jaro_winkler, thresholds: [2]}}", "between 0 and 1"),
        ("extra_fields: {dob: {comparison: soundex}}", "match.extra_fields.dob.comparison"),
    ],
)
def test_bad_extra_field_config_names_the_problem(tmp_path, match_block, message):
    text = f"""
sources:
  - name: people
    path: people.csv
    columns: {{source_record_id: id, first_name: first, extra: {{dob: born}}}}
match:
  {match_block}
"""
    with pytest.raises(ConfigError, match=message):
        load_config(_write_config(tmp_path, text))


def test_extra_field_may_not_shadow_a_built_in_field():
    with pytest.raises(ValueError, match="built-in match field"):
        SourceConfig(
            name="crm",
            path=Path("x.csv"),
            columns=ColumnMapping(source_record_id="id", phones="tel", extra={"city": "Town"}),
        )
