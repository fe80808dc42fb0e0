import polars as pl

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.review import Outcome, decide_clusters


def pairs(*rows):
    return pl.DataFrame(
        rows, schema=["record_id_l", "record_id_r", "match_probability"], orient="row"
    )


def match_clusters(rows):
    return pl.DataFrame(
        rows, schema=["record_id", "strong_cluster_id", "candidate_cluster_id"], orient="row"
    )


CONFIG = DecisionConfig(auto_merge_threshold=0.99, review_threshold=0.8, max_cluster_size=3)


def outcome_of(decisions, record_id):
    row = decisions.clusters.filter(pl.col("record_id") == record_id).row(0, named=True)
    return row["outcome"], row["cluster_id"], row["review_cluster_id"]


def test_strong_pair_is_auto_merged_with_its_confidence():
    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("b", "a", "a"), ("c", "c", "c")]),
        pairs(("a", "b", 0.995)),
        config=CONFIG,
    )
    assert outcome_of(decisions, "a") == (Outcome.AUTO_MERGE, "a", None)
    assert outcome_of(decisions, "b") == (Outcome.AUTO_MERGE, "a", None)
    assert outcome_of(decisions, "c") == (Outcome.UNIQUE, "c", None)
    merged = decisions.clusters.filter(pl.col("cluster_id") == "a")
    assert merged.get_column("confidence").to_list() == [0.995, 0.995]
    assert decisions.review_queue.is_empty()


def test_pair_in_review_band_is_not_merged_but_queued():
    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("b", "b", "a")]),
        pairs(("a", "b", 0.9)),
        config=CONFIG,
    )
    assert outcome_of(decisions, "a") == (Outcome.REVIEW, "a", "a")
    assert outcome_of(decisions, "b") == (Outcome.REVIEW, "b", "a")
    queue = decisions.review_queue.row(0, named=True)
    assert queue["record_ids"] == ["a", "b"]
    assert queue["client_cluster_count"] == 2
    assert queue["confidence"] == 0.9


def test_a_proposal_shows_the_weakest_pair_it_would_merge():
    # a1-a2 are one client; b joins them at 0.9 through a1, but scores 0.56 with a2.
    # Approving the proposal merges that 0.56 pair too, so the queue must not say 0.999.
    decisions = decide_clusters(
        match_clusters([("a1", "a1", "a1"), ("a2", "a1", "a1"), ("b", "b", "a1")]),
        pairs(("a1", "a2", 0.999), ("a1", "b", 0.9), ("a2", "b", 0.56)),
        config=CONFIG,
    )
    queue = decisions.review_queue.row(0, named=True)
    assert queue["client_cluster_count"] == 2
    assert queue["confidence"] == 0.56


def test_the_review_workload_is_the_queue_and_its_records():
    from dedup_pipeline.review import review_workload

    decisions = decide_clusters(
        match_clusters([("a1", "a1", "a1"), ("a2", "a1", "a1"), ("b", "b", "a1"), ("c", "c", "c")]),
        pairs(("a1", "a2", 0.999), ("a1", "b", 0.9)),
        config=CONFIG,
    )
    workload = review_workload(decisions.clusters)
    assert (workload.proposals, workload.records) == (decisions.review_queue.height, 3)


def test_weak_candidates_are_kept_apart():

    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("b", "b", "b")]),
        pairs(("a", "b", 0.6)),
        config=CONFIG,
    )
    assert outcome_of(decisions, "a")[0] == Outcome.KEEP_APART
    assert decisions.review_queue.is_empty()


def test_oversized_strong_cluster_goes_to_review_unmerged():
    ids = ["a", "b", "c", "d"]
    decisions = decide_clusters(
        match_clusters([(i, "a", "a") for i in ids]),
        pairs(("a", "b", 0.999), ("b", "c", 0.999), ("c", "d", 0.999)),
        config=CONFIG,
    )
    assert decisions.clusters.get_column("cluster_id").to_list() == ids
    assert set(decisions.clusters.get_column("outcome")) == {Outcome.REVIEW}
    assert "max_cluster_size" in decisions.review_queue.row(0, named=True)["reason"]


def test_every_record_gets_exactly_one_cluster():
    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("b", "a", "a"), ("c", "c", "a"), ("d", "d", "d")]),
        pairs(("a", "b", 0.999), ("b", "c", 0.85)),
        config=CONFIG,
    )
    assert decisions.clusters.get_column("record_id").to_list() == ["a", "b", "c", "d"]
    assert outcome_of(decisions, "c") == (Outcome.REVIEW, "c", "a")
    assert outcome_of(decisions, "a") == (Outcome.AUTO_MERGE, "a", "a")


def test_a_flagged_record_is_set_apart_and_the_chain_it_made_is_cut():
    # a - s - b: the flagged switchboard record s links two clients that share nothing.
    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("s", "a", "a"), ("b", "a", "a"), ("c", "c", "a")]),
        pairs(("a", "s", 0.999), ("s", "b", 0.999), ("b", "c", 0.9)),
        config=CONFIG,
        flagged=pl.Series(["s"]),
    )
    assert outcome_of(decisions, "s") == (Outcome.FLAGGED, "s", None)
    assert outcome_of(decisions, "a") == (Outcome.UNIQUE, "a", None)
    # b and c are still a review proposal, without s.
    assert outcome_of(decisions, "b")[0] == Outcome.REVIEW
    assert decisions.review_queue.get_column("record_ids").to_list() == [["b", "c"]]


def test_a_flagged_record_stays_out_of_a_merge_a_reviewer_approved():
    approved = pl.DataFrame(
        {"action": ["approve"], "record_ids": [["a", "b", "j"]], "groups": [None]},
        schema={"action": pl.String, "record_ids": pl.List(pl.String), "groups": pl.Object},
    )
    decisions = decide_clusters(
        match_clusters([("a", "a", "a"), ("b", "b", "a"), ("j", "j", "a")]),
        pairs(("a", "b", 0.9), ("b", "j", 0.9)),
        config=CONFIG,
        decisions=approved,
        flagged=pl.Series(["j"]),
    )
    assert outcome_of(decisions, "j")[0] == Outcome.FLAGGED
    assert outcome_of(decisions, "a")[:2] == (Outcome.APPROVED, "a")
    assert outcome_of(decisions, "b")[:2] == (Outcome.APPROVED, "a")
