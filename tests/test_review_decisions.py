"""Reviewers' decisions bind the next run: approvals merge, rejections keep apart."""

import polars as pl

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.review import Outcome, decide_clusters
from tests.test_decide import match_clusters, pairs

CONFIG = DecisionConfig(auto_merge_threshold=0.99, review_threshold=0.8, max_cluster_size=3)


def decisions(*rows):
    return pl.DataFrame(
        [{"action": a, "record_ids": r, "groups": g} for a, r, g in rows],
        schema={
            "action": pl.String,
            "record_ids": pl.List(pl.String),
            "groups": pl.List(pl.List(pl.String)),
        },
    )


def clients(result) -> dict[str, tuple[str, str]]:
    return {
        r["record_id"]: (r["cluster_id"], r["outcome"])
        for r in result.clusters.iter_rows(named=True)
    }


# a and b are linked in the review band only; c is alone.
REVIEW_BAND = (
    match_clusters([("a", "a", "a"), ("b", "b", "a"), ("c", "c", "c")]),
    pairs(("a", "b", 0.9)),
)


def test_an_approved_proposal_merges_and_leaves_the_queue():
    before = decide_clusters(*REVIEW_BAND, config=CONFIG)
    assert before.review_queue.height == 1
    after = decide_clusters(
        *REVIEW_BAND, config=CONFIG, decisions=decisions(("approve", ["a", "b"], None))
    )
    result = clients(after)
    assert result["a"][0] == result["b"][0]
    assert result["a"][1] == Outcome.APPROVED
    assert after.review_queue.is_empty()


def test_a_rejected_proposal_is_not_asked_again_unless_its_records_change():
    rejected = decisions(("reject", ["a", "b"], None))
    after = decide_clusters(*REVIEW_BAND, config=CONFIG, decisions=rejected)
    assert after.review_queue.is_empty()
    assert clients(after)["a"][0] != clients(after)["b"][0]
    # A new record joins the proposal: a person looks again.
    grown = (
        match_clusters([("a", "a", "a"), ("b", "b", "a"), ("d", "d", "a")]),
        pairs(("a", "b", 0.9), ("b", "d", 0.85)),
    )
    assert decide_clusters(*grown, config=CONFIG, decisions=rejected).review_queue.height == 1


def test_a_rejection_splits_an_automatic_merge():
    strong = (match_clusters([("a", "a", "a"), ("b", "a", "a")]), pairs(("a", "b", 0.999)))
    assert clients(decide_clusters(*strong, config=CONFIG))["b"] == ("a", Outcome.AUTO_MERGE)
    after = clients(
        decide_clusters(*strong, config=CONFIG, decisions=decisions(("reject", ["a", "b"], None)))
    )
    assert after["a"][0] != after["b"][0]


def test_a_split_keeps_groups_apart_and_merges_each():
    chain = (
        match_clusters([(r, "a", "a") for r in "abcd"]),
        pairs(("a", "b", 0.999), ("b", "c", 0.995), ("c", "d", 0.999)),
    )
    split = decisions(("split", ["a", "b", "c", "d"], [["a", "b"], ["c", "d"]]))
    after = clients(decide_clusters(*chain, config=CONFIG, decisions=split))
    assert after["a"][0] == after["b"][0] != after["c"][0] == after["d"][0]
    assert {after[r][1] for r in "abcd"} == {Outcome.APPROVED}


def test_an_approval_is_not_undone_by_the_size_limit_and_ignores_deleted_records():
    records = [(r, r, "x") for r in "abcdef"]
    links = pairs(*[(a, b, 0.9) for a, b in zip("abcde", "bcdef", strict=True)])
    approve = decisions(("approve", [*"abcdef", "gone"], None))
    after = clients(
        decide_clusters(match_clusters(records), links, config=CONFIG, decisions=approve)
    )
    assert len({after[r][0] for r in "abcdef"}) == 1  # six records, above max_cluster_size 3
    assert after["a"][1] == Outcome.APPROVED
    assert "gone" not in after


def test_decisions_become_labelled_pairs_and_score_the_model():
    from dedup_pipeline.evaluate import agreement_with_labels
    from dedup_pipeline.review.constraints import labelled_pairs

    labels = labelled_pairs(
        decisions(
            ("approve", ["a", "b"], None),
            ("split", ["c", "d", "e"], [["c", "d"], ["e"]]),
            ("reject", ["f", "g"], None),
        )
    )
    assert labels.rows() == [
        ("a", "b", 1.0),
        ("c", "d", 1.0),
        ("c", "e", 0.0),
        ("d", "e", 0.0),
        ("f", "g", 0.0),
    ]
    # The model merged a-b and f-g (wrongly), and missed c-d.
    scored = pairs(("b", "a", 0.995), ("c", "d", 0.9), ("f", "g", 0.999))
    agreement = agreement_with_labels(scored, labels, threshold=0.99)
    assert agreement.labelled_pairs == 5 and agreement.labelled_matches == 2
    assert agreement.precision == 0.5 and agreement.recall == 0.5
