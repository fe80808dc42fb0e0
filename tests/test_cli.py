import json

from typer.testing import CliRunner

from dedup_pipeline.cli import app
from tests.conftest import sample_config_in
from tests.test_end_to_end import CONFIG, write_exports

runner = CliRunner()


def test_run_prints_the_summary_and_evaluate_scores(tmp_path):
    write_exports(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    for label in ("records in", "quarantined", "auto-merged clusters", "golden profiles"):
        assert label in result.output
    assert "balanced" in result.output
    assert "merge_instructions.jsonl" in result.output

    # The test exports have no truth column: a clear error, not a crash.
    result = runner.invoke(app, ["evaluate", "--config", str(config), "--truth-column", "nope"])
    assert result.exit_code == 2
    assert "no source record has a passthrough column 'nope'" in result.output


def test_an_incremental_run_needs_a_full_sweep_first_then_places_records(tmp_path):
    write_exports(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = runner.invoke(app, ["run", "--config", str(config), "--mode", "incremental"])
    assert result.exit_code == 1
    assert "run a full sweep first (dedup run --mode full)" in result.output

    assert runner.invoke(app, ["run", "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["run", "--config", str(config), "--mode", "incremental"])
    assert result.exit_code == 0, result.output
    assert "incremental run" in result.output and "balanced" in result.output
    assert "client ids this run: none created, split, merged or retired" in result.output

    # Last night's pairs and clusters were made with other thresholds: refuse, and say why.
    config.write_text(
        CONFIG.replace("auto_merge_threshold: 0.95", "auto_merge_threshold: 0.97"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config), "--mode", "incremental"])
    assert result.exit_code == 1
    assert "match settings changed since: auto_merge_threshold" in result.output


def test_invalid_config_exits_with_a_clear_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sources: []\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "bad.yaml: invalid configuration" in result.output


def test_instruction_schema_is_printed():
    result = runner.invoke(app, ["instruction-schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "MergeInstruction"


def test_config_error_keeps_field_locations_visible(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "sources:\n  - {name: crm, path: a.csv, default_region: XX,"
        " columns: {source_record_id: ID, phones: P}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "sources[0].default_region" in result.output


def test_a_missing_source_file_is_named_before_the_run(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: crm, path: nowhere.csv, columns: {source_record_id: ID, phones: P}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert f"source 'crm': file not found: {tmp_path / 'nowhere.csv'}" in result.output


def test_a_failing_step_reports_its_cause_without_a_traceback(tmp_path):
    (tmp_path / "crm.csv").write_text("ID,Phone\n1,+79123456789\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "sources:\n  - {name: crm, path: crm.csv, columns: {source_record_id: ID, phones: Tel}}\n"
        "output: {directory: out}\nwarehouse: {path: out/w.duckdb, temp_directory: out/tmp}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "read_crm" in result.output and "mapped column(s) not found: 'Tel'" in result.output
    assert 'File "' not in result.output


def test_reviewers_are_added_and_their_decisions_listed(tmp_path, monkeypatch):
    from dedup_pipeline.config import load_config
    from dedup_pipeline.review import DecisionStore, ReviewDecision

    config = tmp_path / "config.yaml"
    config.write_text(
        "sources:\n  - {name: crm, path: crm.csv, columns: {source_record_id: ID, phones: P}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DEDUP_REVIEW_PASSWORD", "s3cret pass")
    result = runner.invoke(app, ["review", "add-user", "alice", "--config", str(config)])
    assert result.exit_code == 0, result.output
    url = load_config(config).review.url
    with DecisionStore(url) as store:
        assert store.verify_user("alice", "s3cret pass")
        store.record(
            ReviewDecision(action="reject", record_ids=["crm:1", "crm:2"], reviewer="alice")
        )
    result = runner.invoke(app, ["review", "decisions", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (
        "alice" in result.output and "reject" in result.output and "crm:1, crm:2" in result.output
    )
    # Adding the same reviewer twice is a clear error.
    result = runner.invoke(app, ["review", "add-user", "alice", "--config", str(config)])
    assert result.exit_code == 2
    # A forgotten password is reset; a weak one is refused, naming why.
    monkeypatch.setenv("DEDUP_REVIEW_PASSWORD", "a")
    result = runner.invoke(app, ["review", "set-password", "alice", "--config", str(config)])
    assert result.exit_code == 2 and "at least 8 characters" in result.output
    monkeypatch.setenv("DEDUP_REVIEW_PASSWORD", "new and long enough")
    result = runner.invoke(app, ["review", "set-password", "alice", "--config", str(config)])
    assert result.exit_code == 0, result.output
    with DecisionStore(url) as store:
        assert store.verify_user("alice", "new and long enough")


def test_the_review_queue_round_trips_through_a_spreadsheet(tmp_path, monkeypatch):
    import polars as pl

    from dedup_pipeline.config import load_config
    from dedup_pipeline.review import DecisionStore

    config = sample_config_in(tmp_path)
    assert runner.invoke(app, ["run", "--config", str(config)]).exit_code == 0
    monkeypatch.setenv("DEDUP_REVIEW_PASSWORD", "pw for bob")
    assert runner.invoke(app, ["review", "add-user", "bob", "--config", str(config)]).exit_code == 0

    sheet = tmp_path / "queue.xlsx"
    result = runner.invoke(app, ["review", "export", "--out", str(sheet), "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = pl.read_excel(sheet)
    first = rows.get_column("review_cluster_id")[0]
    filled = rows.with_columns(
        decision=pl.when(pl.col("review_cluster_id") == first).then(pl.lit("reject"))
    )
    filled_path = tmp_path / "filled.csv"
    filled.write_csv(filled_path)
    result = runner.invoke(
        app, ["review", "import", str(filled_path), "--reviewer", "bob", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "recorded 1 decision(s) by bob" in result.output
    with DecisionStore(load_config(config).review.url) as store:
        decided = store.decisions()
    assert decided.get_column("review_cluster_id").to_list() == [first]
    assert decided.get_column("reviewer").to_list() == ["bob"]

    # The decision, as a labelled pair set, scores the model that made the proposal.
    labels = tmp_path / "labels.csv"
    result = runner.invoke(app, ["review", "labels", "--out", str(labels), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(labels).get_column("clerical_match_score").max() == 0.0  # a rejection
    result = runner.invoke(app, ["review", "agreement", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "labelled pairs" in result.output and "precision" in result.output
