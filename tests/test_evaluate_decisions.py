"""`dedup evaluate --decisions`: the model's pairs scored against reviewers' decisions."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from dedup_pipeline.cli import app
from dedup_pipeline.config import load_config
from dedup_pipeline.evaluate import agreement_with_labels
from dedup_pipeline.review import DecisionStore, ReviewDecision
from dedup_pipeline.review.constraints import labelled_pairs
from tests.test_end_to_end import CONFIG, write_exports

runner = CliRunner()


@pytest.fixture
def config(tmp_path):
    write_exports(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_evaluate_scores_the_model_against_decisions(config):
    settings = load_config(config)
    with DecisionStore(settings.review.url) as store:
        store.add_user("alice", "correct horse")
        for action, record_ids in (
            ("approve", ["bitrix24:1", "bitrix24:2", "hubspot:901", "webform:L-1"]),  # 6 pairs
            # Reviewers disagree with the model: one pair it merges, one it never scores.
            ("reject", ["bitrix24:3", "hubspot:902"]),
            ("approve", ["bitrix24:5", "webform:L-2"]),
        ):
            store.record(ReviewDecision(action=action, record_ids=record_ids, reviewer="alice"))
        labels = labelled_pairs(store.decisions())

    result = runner.invoke(app, ["evaluate", "--decisions", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "reviewers' decisions" in result.output
    for row in ("labelled pairs", "of which matches", "precision", "recall", "F1"):
        assert row in result.output

    written = json.loads((settings.output.directory / "evaluation.json").read_text("utf-8"))
    assert written["against"] == "decisions"
    assert (written["labelled_pairs"], written["labelled_matches"]) == (8, 7)
    # The figures are those of the run's scored pairs, not of its final clusters (which
    # honour the decisions and would agree with them trivially).
    scored = pl.read_parquet(settings.output.directory / "scored_pairs.parquet")
    expected = agreement_with_labels(scored, labels, threshold=0.95)
    assert written == {"against": "decisions", "auto_merge_threshold": 0.95, **expected.as_dict()}
    assert written["precision"] < 1 and written["recall"] < 1
    assert f"{expected.precision:.4f}" in result.output
    assert f"{expected.recall:.4f}" in result.output


def test_evaluate_against_no_decisions_is_a_clear_error(config):
    result = runner.invoke(app, ["evaluate", "--decisions", "--config", str(config)])
    assert result.exit_code == 2
    assert "no reviewers' decisions in sqlite:///" in result.output
    assert "leave out --decisions" in result.output
    # Refused before running: nothing was matched or written.
    out = load_config(config).output.directory
    assert not (out / "scored_pairs.parquet").exists()
    assert not (out / "evaluation.json").exists()
