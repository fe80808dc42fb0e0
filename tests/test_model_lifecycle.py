"""The trained model of a run: saved with its charts, reused instead of training, refused
when it no longer fits the configuration."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from assets.run import run_full_sweep
from dedup_pipeline.cli import app
from dedup_pipeline.config import (
    ConfigError,
    DecisionConfig,
    ExtraFieldConfig,
    MatchConfig,
    WarehouseConfig,
    load_config,
)
from dedup_pipeline.match import (
    MODEL_FILE,
    IncompatibleModelError,
    load_model,
    match_contacts,
    save_model,
)
from dedup_pipeline.normalize import normalize_contacts
from tests.test_end_to_end import CONFIG, write_exports
from tests.test_match import population

CHART_FILES = ("match_weights_chart.html", "m_u_parameters_chart.html")


def _match(contacts: pl.DataFrame, tmp: Path, **options):
    options.setdefault("match", MatchConfig())
    result, _ = match_contacts(
        contacts,
        decision=DecisionConfig(),
        warehouse=WarehouseConfig(memory_limit="1GB", temp_directory=tmp),
        **options,
    )
    return result


def _sorted_pairs(result) -> pl.DataFrame:
    return result.scored_pairs.sort("record_id_l", "record_id_r")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Contacts of a small population, the result of training on them and the saved files."""
    directory = tmp_path_factory.mktemp("trained")
    records, _ = population(people=120, seed=5)
    contacts = normalize_contacts(records).contacts
    result = _match(contacts, directory / "tmp")
    written = save_model(result.model, directory / "out")
    return contacts, result, written


def test_a_run_saves_its_model_and_charts(trained):
    _, result, written = trained
    assert set(written) == {MODEL_FILE, *CHART_FILES}
    model = json.loads(written[MODEL_FILE].read_text(encoding="utf-8"))
    assert model == json.loads(json.dumps(result.model))
    for name in CHART_FILES:
        assert written[name].parent == written[MODEL_FILE].parent
        assert "vegaEmbed" in written[name].read_text(encoding="utf-8")


def test_a_saved_model_is_reused_without_training(trained, tmp_path, monkeypatch):
    contacts, first, written = trained

    def no_training(*args, **kwargs):
        raise AssertionError("a reused model must not be trained")

    monkeypatch.setattr("dedup_pipeline.match.model.train_model", no_training)
    model = load_model(written[MODEL_FILE], MatchConfig())
    again = _match(contacts, tmp_path / "tmp", model=model)
    assert again.scored_pairs.height > 0
    assert_frame_equal(_sorted_pairs(again), _sorted_pairs(first))
    assert_frame_equal(
        again.clusters.sort("record_id"), first.clusters.sort("record_id"), check_row_order=True
    )

    # Saving a reused model copies the file as it is.
    copied = save_model(model, tmp_path / "out", reused_from=written[MODEL_FILE])
    assert copied[MODEL_FILE].read_bytes() == written[MODEL_FILE].read_bytes()
    assert all(copied[name].exists() for name in CHART_FILES)


def test_a_model_saved_by_an_earlier_version_scores_with_todays_columns(trained, tmp_path):
    contacts, first, written = trained
    # Saved before the name guard read whether a first name is listed.
    model = json.loads(written[MODEL_FILE].read_text(encoding="utf-8"))
    model["additional_columns_to_retain"] = ["source", "first_initials", "middle_initial"]
    older = tmp_path / MODEL_FILE
    older.write_text(json.dumps(model), encoding="utf-8")
    again = _match(contacts, tmp_path / "tmp", model=load_model(older, MatchConfig()))
    assert_frame_equal(_sorted_pairs(again), _sorted_pairs(first))


def test_a_model_of_other_comparisons_is_refused(trained, tmp_path):

    contacts, _, written = trained
    with_extra = MatchConfig(extra_fields={"birth_date": ExtraFieldConfig(comparison="date")})
    with pytest.raises(IncompatibleModelError) as refused:
        load_model(written[MODEL_FILE], with_extra)
    message = str(refused.value)
    assert str(written[MODEL_FILE]) in message
    assert "birth_date" in message and "retrain" in message and "match.model" in message

    # The match stage itself refuses a model that does not fit, before scoring.
    model = json.loads(written[MODEL_FILE].read_text(encoding="utf-8"))
    model["comparisons"] = model["comparisons"][:-1]
    with pytest.raises(IncompatibleModelError, match="retrain"):
        _match(contacts, tmp_path / "tmp", model=model)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"comparisons": "nope"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.json: not a Splink model"):
        load_model(path, MatchConfig())
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a Splink model"):
        load_model(path, MatchConfig())


def test_config_match_model_is_resolved_and_checked(trained, tmp_path):
    _, _, written = trained
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.json").write_bytes(written[MODEL_FILE].read_bytes())
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG + "match: {model: models/m.json}\n", encoding="utf-8")
    assert load_config(config).match.model == tmp_path / "models" / "m.json"

    config.write_text(CONFIG + "match: {model: models/missing.json}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as missing:
        load_config(config)
    assert "config.yaml: match.model:" in str(missing.value)
    assert str(tmp_path / "models" / "missing.json") in str(missing.value)
    assert "not found" in str(missing.value)


def test_cli_model_option_names_a_missing_file(tmp_path):
    write_exports(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    missing = tmp_path / "nowhere.json"
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--model", str(missing)])
    assert result.exit_code == 2
    assert "nowhere.json: model file not found" in result.output


def test_the_job_reuses_a_model_given_for_the_run(trained, tmp_path, monkeypatch):
    _, _, written = trained

    def no_training(*args, **kwargs):
        raise AssertionError("a reused model must not be trained")

    monkeypatch.setattr("dedup_pipeline.match.model.train_model", no_training)
    write_exports(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    report = run_full_sweep(config, model_path=written[MODEL_FILE])
    out = tmp_path / "out"
    # The run's output holds the model that scored it, and its charts.
    assert (out / MODEL_FILE).read_bytes() == written[MODEL_FILE].read_bytes()
    for name in (MODEL_FILE, *CHART_FILES):
        assert report.outputs[name] == str(out / name)
        assert (out / name).exists()
