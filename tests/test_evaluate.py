import polars as pl
import pytest

from dedup_pipeline.evaluate import TruthColumnError, pairwise_scores, truth_from_attributes


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
