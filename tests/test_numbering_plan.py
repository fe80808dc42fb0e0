"""Region and time zone of Russian mobile numbers from the regulator's numbering plan."""

import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dedup_pipeline.cli import app
from dedup_pipeline.enrich import enrich_phones
from dedup_pipeline.enrich.numbering_plan import (
    NumberingPlanError,
    load_numbering_plan,
    read_numbering_plan,
    region_of_territory,
)
from tests.conftest import ROOT, sample_config_in

HEADER = "АВС/ DEF;От;До;Емкость;Оператор;Регион;Территория ГАР;ИНН"
SAMPLE_PLAN = ROOT / "data" / "sample" / "numbering_plan" / "DEF-9xx.csv"


def write(path: Path, *lines: str, encoding: str = "utf-8-sig") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


@pytest.fixture
def plan(tmp_path) -> pl.DataFrame:
    current = write(
        tmp_path / "DEF-9xx.csv",
        HEADER,
        '912;0000000;0999999;1000000;ПАО "МТС";Свердловская обл.;Свердловская область;77',
        '912;1000000;1999999;1000000;ПАО "МТС";-;г. Улан-Удэ|Республика Бурятия;77',
        '912;2000000;2999999;1000000;ПАО "МТС";Донецкая обл.;Донецкая обл.;77',
    )
    # An older extract: six columns, Windows-1251.
    older = write(
        tmp_path / "ABC-4xx.csv",
        "АВС/ DEF;От;До;Емкость;Оператор;Регион",
        '423;2000000;2999999;1000000;ПАО "Ростелеком";Приморский край',
        encoding="cp1251",
    )
    return read_numbering_plan([current, older])


def test_the_plan_reads_both_formats_and_names_each_region_and_zone(plan):
    rows = {(row["code"], row["range_start"]): row for row in plan.iter_rows(named=True)}
    assert rows[(912, 0)]["region_ru"] == "Свердловская область"
    assert rows[(912, 0)]["time_zone"] == "Asia/Yekaterinburg"
    # A dash for the region: the territory column says it.
    assert rows[(912, 1_000_000)]["region_en"] == "Buryatia"
    assert rows[(912, 1_000_000)]["time_zone"] == "Asia/Irkutsk"
    assert rows[(912, 2_000_000)]["time_zone"] is None  # no federal subject the table lists
    assert rows[(423, 2_000_000)]["time_zone"] == "Asia/Vladivostok"
    assert plan.get_column("plan_version").n_unique() == 1


@pytest.mark.parametrize(
    ("territory", "zone"),
    [
        ("Томская обл.", "Asia/Tomsk"),  # not Omsk, whose name is inside it
        ("Омская область", "Asia/Omsk"),
        ("Сахалинская обл.", "Asia/Sakhalin"),
        ("Ямало-Ненецкий АО", "Asia/Yekaterinburg"),
        ("Ненецкий АО", "Europe/Moscow"),
        ("Новгородская обл.", "Europe/Moscow"),
        ("Калининградская обл.", "Europe/Kaliningrad"),
    ],
)
def test_territories_map_to_their_subjects_zone(territory, zone):
    assert region_of_territory(territory)[2] == zone


def test_a_mobile_number_gets_the_plans_region_a_landline_keeps_its_city(plan):
    phones = pl.Series(["+79120500000", "+79121500000", "+74951234567", "+79125500000"])
    without = enrich_phones(phones).sort("phone_e164")
    with_plan = enrich_phones(phones, plan=plan).sort("phone_e164")
    by_number = {row["phone_e164"]: row for row in with_plan.iter_rows(named=True)}
    assert without.filter(pl.col("phone_e164") == "+79120500000")["time_zone"][0] is None
    assert by_number["+79120500000"]["region_ru"] == "Свердловская область"
    assert by_number["+79120500000"]["time_zone"] == "Asia/Yekaterinburg"
    assert by_number["+79121500000"]["time_zone"] == "Asia/Irkutsk"
    # A landline's region is libphonenumber's own (finer than a plan's subject).
    landline = without.filter(pl.col("phone_e164") == "+74951234567").row(0, named=True)
    assert by_number["+74951234567"]["region_ru"] == landline["region_ru"] is not None
    assert by_number["+79125500000"]["time_zone"] is None  # no range holds it
    # Descriptions made without the plan are not reused once it is loaded.
    again = enrich_phones(phones, known=without, plan=plan).sort("phone_e164")
    assert again.equals(with_plan)
    assert with_plan["described_with"][0].endswith(plan["plan_version"][0])


def test_a_file_that_is_not_the_plan_is_refused_naming_file_row_and_field(tmp_path):
    wrong = write(tmp_path / "contacts.csv", "name;phone", "Иван;+79120000000")
    with pytest.raises(NumberingPlanError, match=r"contacts\.csv: row 1: expected the header"):
        read_numbering_plan([wrong])
    broken = write(tmp_path / "DEF.csv", HEADER, "912;0000000;09x9999;1;МТС;Москва;г. Москва;1")
    with pytest.raises(NumberingPlanError, match=r"DEF\.csv: row 2: field 'До' is '09x9999'"):
        read_numbering_plan([broken])


def test_the_load_command_stores_the_plan_the_next_run_reads(tmp_path):
    config = sample_config_in(tmp_path)
    result = CliRunner().invoke(
        app, ["numbering-plan", "load", str(SAMPLE_PLAN), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "112 ranges from 1 file(s), 112 with a region and time zone" in result.output
    stored = load_numbering_plan(tmp_path / "out" / "numbering_plan.parquet")
    assert stored is not None and stored.height == 112


def test_the_load_command_needs_a_place_to_store_the_plan(tmp_path):
    config = sample_config_in(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"numbering_plan: .*", "numbering_plan: null", text), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["numbering-plan", "load", str(SAMPLE_PLAN), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "set enrich.numbering_plan" in result.output
