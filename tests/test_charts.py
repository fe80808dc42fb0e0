"""Model charts: self-contained HTML pages drawn from a saved Splink model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator

from dedup_pipeline.match.charts import CHART_TITLES, write_model_charts

COMPARISON_NAMES = ("surname_check", "mailbox_check")


def _levels(column: str, m: tuple[float, float], u: tuple[float, float]) -> list[Any]:
    return [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column).configure(m_probability=m[0], u_probability=u[0]),
        cll.ElseLevel().configure(m_probability=m[1], u_probability=u[1]),
    ]


def _embedded_spec(page: str) -> dict[str, Any]:
    """The Vega-Lite specification a page hands to ``vegaEmbed``."""
    found = re.search(r'vegaEmbed\("#chart", (.*), \{"actions"', page)
    assert found is not None
    return json.loads(found[1])


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """A small model with set m/u probabilities, as ``save_model_to_json`` returns it."""
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=0.001,
        blocking_rules_to_generate_predictions=["l.last_name = r.last_name"],
        comparisons=[
            cl.CustomComparison(
                output_column_name=COMPARISON_NAMES[0],
                comparison_levels=_levels("last_name", (0.9, 0.1), (0.01, 0.99)),
            ),
            cl.CustomComparison(
                output_column_name=COMPARISON_NAMES[1],
                comparison_levels=_levels("email", (0.7, 0.3), (0.001, 0.999)),
            ),
        ],
    )
    rows = pa.table(
        {
            "record_id": ["a", "b"],
            "last_name": ["Smith", "Smith"],
            "email": ["a@example.org", None],
        }
    )
    with duckdb.connect() as connection:
        db_api = DuckDBAPI(connection)
        table = db_api.register(rows, table_name="people")
        trained = Linker(table, settings, log_level=None).misc.save_model_to_json()
    return json.loads(json.dumps(trained))


def test_writes_self_contained_pages(
    model: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = json.dumps(model)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    directory = tmp_path / "charts" / "nested"

    paths = write_model_charts(model, directory)

    assert paths == {name: directory / f"{name}.html" for name in CHART_TITLES}
    assert set(paths) == {"match_weights_chart", "m_u_parameters_chart"}
    assert sorted(directory.iterdir()) == sorted(paths.values())
    assert list(elsewhere.iterdir()) == []
    assert json.dumps(model) == original
    for path in paths.values():
        page = path.read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        for name in COMPARISON_NAMES:
            assert name in page
        # Every script is inline: none is fetched, from a CDN or anywhere else.
        tags = re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)
        assert tags
        assert all("src" not in tag.lower() for tag in tags)
        assert not re.search(r"src\s*=\s*[\"']?https?://", page, flags=re.IGNORECASE)
        assert "vegaEmbed(" in page
        assert "vegaLite" in page
        # The page's specification is the chart's, with the model's parameters.
        spec = _embedded_spec(page)
        names = {row["comparison_name"] for row in spec["data"]["values"]}
        assert set(COMPARISON_NAMES) <= names


def test_is_deterministic(model: dict[str, Any], tmp_path: Path) -> None:
    first = write_model_charts(model, tmp_path / "first")
    second = write_model_charts(model, tmp_path / "second")
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes()


def test_match_weights_follow_the_model(model: dict[str, Any], tmp_path: Path) -> None:
    page = write_model_charts(model, tmp_path)["match_weights_chart"].read_text(encoding="utf-8")
    spec = _embedded_spec(page)
    weights = {
        (row["comparison_name"], row["comparison_vector_value"]): row["log2_bayes_factor"]
        for row in spec["data"]["values"]
    }
    # log2(m / u) of an exact surname match: log2(0.9 / 0.01).
    assert weights[(COMPARISON_NAMES[0], 1)] == pytest.approx(6.491853, abs=1e-6)
