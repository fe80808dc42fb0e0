"""Cluster shapes no machine should merge alone: disjoint identifiers, loose connection."""

import polars as pl
import pytest

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.review import Outcome, decide_clusters
from dedup_pipeline.review.shapes import Shape, identifier_groups

CONFIG = DecisionConfig(auto_merge_threshold=0.99, review_threshold=0.8, max_cluster_size=20)


def pairs(*rows):
    return pl.DataFrame(
        rows, schema=["record_id_l", "record_id_r", "match_probability"], orient="row"
    )


def one_cluster(*record_ids):
    """All records in one strong (and candidate) cluster, as Splink would have built it."""
    first = min(record_ids)
    return pl.DataFrame(
        {
            "record_id": list(record_ids),
            "strong_cluster_id": [first] * len(record_ids),
            "candidate_cluster_id": [first] * len(record_ids),
        }
    )


def contacts(**identifiers):
    """``record_id=(phones, emails)`` per record."""
    return pl.DataFrame(
        {
            "record_id": list(identifiers),
            "phones_e164": [list(phones) for phones, _ in identifiers.values()],
            "emails_normalized": [list(emails) for _, emails in identifiers.values()],
        },
        schema={
            "record_id": pl.String,
            "phones_e164": pl.List(pl.String),
            "emails_normalized": pl.List(pl.String),
        },
    )


def cluster_of(decisions, record_id):
    return decisions.clusters.filter(pl.col("record_id") == record_id).row(0, named=True)


# Two "Sergei Ivanov"s at the same provider: a1/a2 share a phone and ivanovs@, b1/b2 share
# sivanov@; a near-miss e-mail joined a1 to b1 above the auto-merge threshold.
IVANOVS = contacts(
    a1=(["+79531406247"], ["ivanovs@list.ru"]),
    a2=(["+79531406247"], []),
    b1=([], ["sivanov@list.ru"]),
    b2=(["+79876956095"], ["sivanov@list.ru"]),
)
IVANOV_PAIRS = pairs(("a1", "a2", 1.0), ("b1", "b2", 1.0), ("a1", "b1", 0.992))


def test_groups_without_a_shared_identifier_are_merged_apart_and_proposed():
    decisions = decide_clusters(
        one_cluster("a1", "a2", "b1", "b2"), IVANOV_PAIRS, config=CONFIG, contacts=IVANOVS
    )
    assert cluster_of(decisions, "a2")["cluster_id"] == cluster_of(decisions, "a1")["cluster_id"]
    assert cluster_of(decisions, "b2")["cluster_id"] == cluster_of(decisions, "b1")["cluster_id"]
    assert cluster_of(decisions, "a1")["cluster_id"] != cluster_of(decisions, "b1")["cluster_id"]
    assert {cluster_of(decisions, r)["outcome"] for r in ("a1", "b1")} == {Outcome.AUTO_MERGE}
    proposal = decisions.review_queue.row(0, named=True)
    assert proposal["record_ids"] == ["a1", "a2", "b1", "b2"]
    assert proposal["flags"] == [Shape.DISJOINT_IDENTIFIERS]
    assert "no phone or e-mail in common" in proposal["reason"]


def test_a_pair_with_different_identifiers_is_left_to_the_model():
    # The model compared these two directly, differing phone and e-mail included.
    decisions = decide_clusters(
        one_cluster("a1", "b2"),
        pairs(("a1", "b2", 0.995)),
        config=CONFIG,
        contacts=IVANOVS,
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 1
    assert decisions.review_queue.is_empty()


def test_the_check_can_be_turned_off():
    config = CONFIG.model_copy(update={"split_disjoint_identifiers": False})
    decisions = decide_clusters(
        one_cluster("a1", "a2", "b1", "b2"), IVANOV_PAIRS, config=config, contacts=IVANOVS
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 1
    assert decisions.review_queue.is_empty()


def test_identifiers_shared_through_a_third_record_keep_the_cluster_whole():
    # a and c share nothing, but b holds a's phone and c's e-mail: one client.
    chained = contacts(
        a=(["+79990000001"], []),
        b=(["+79990000001"], ["c@mail.ru"]),
        c=([], ["c@mail.ru"]),
    )
    decisions = decide_clusters(
        one_cluster("a", "b", "c"),
        pairs(("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 0.995)),
        config=CONFIG,
        contacts=chained,
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 1
    assert decisions.review_queue.is_empty()


def test_a_record_without_identifiers_joins_the_group_it_is_tied_to_most():
    with_name_only = IVANOVS.vstack(contacts(n=([], [])))
    decisions = decide_clusters(
        one_cluster("a1", "a2", "b1", "b2", "n"),
        IVANOV_PAIRS.vstack(pairs(("b2", "n", 0.999), ("a2", "n", 0.991))),
        config=CONFIG,
        contacts=with_name_only,
    )
    assert cluster_of(decisions, "n")["cluster_id"] == cluster_of(decisions, "b1")["cluster_id"]


def test_identifier_groups_follow_shared_values_transitively():
    frame = pl.DataFrame({"record_id": ["a", "b", "c", "d"], "cluster_id": ["k"] * 4})
    groups = identifier_groups(
        frame,
        contacts(a=(["p1"], []), b=(["p1"], ["e1"]), c=([], ["e1"]), d=(["p2"], [])),
    )
    assert dict(groups.select("record_id", "group").iter_rows()) == {
        "a": "a",
        "b": "a",
        "c": "a",
        "d": "d",
    }


def test_a_group_is_named_after_its_smallest_record_not_a_shared_value():
    # Value nodes ("a" + value) sort before these record ids; the group is still a record.
    frame = pl.DataFrame({"record_id": ["x2", "x1", "x3"], "cluster_id": ["a"] * 3})
    groups = identifier_groups(frame, contacts(x1=(["p1"], []), x2=(["p1"], []), x3=([], ["e1"])))
    assert dict(groups.select("record_id", "group").iter_rows()) == {
        "x1": "x1",
        "x2": "x1",
        "x3": "x3",
    }


# A chain of five records, each tied strongly only to the next: 4 strong pairs of 10.
CHAIN = [("r1", "r2"), ("r2", "r3"), ("r3", "r4"), ("r4", "r5")]
CHAIN_CONTACTS = contacts(
    r1=(["p1"], []), r2=(["p1"], ["e2"]), r3=(["p3"], ["e2"]), r4=(["p3"], ["e4"]), r5=([], ["e4"])
)


def test_loosely_connected_cluster_is_held_for_review():
    decisions = decide_clusters(
        one_cluster("r1", "r2", "r3", "r4", "r5"),
        pairs(*((left, right, 0.995) for left, right in CHAIN)),
        config=CONFIG,
        contacts=CHAIN_CONTACTS,
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 5
    assert set(decisions.clusters.get_column("outcome")) == {Outcome.REVIEW}
    proposal = decisions.review_queue.row(0, named=True)
    assert proposal["flags"] == [Shape.LOOSELY_CONNECTED]
    assert "loosely connected" in proposal["reason"]


@pytest.mark.parametrize("density", [0.0, 0.4])
def test_density_at_or_above_the_minimum_is_merged(density):
    decisions = decide_clusters(
        one_cluster("r1", "r2", "r3", "r4", "r5"),
        pairs(*((left, right, 0.995) for left, right in CHAIN)),
        config=CONFIG.model_copy(update={"min_cluster_density": density}),
        contacts=CHAIN_CONTACTS,
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 1
    assert decisions.review_queue.is_empty()


def test_a_cluster_a_reviewer_approved_is_not_second_guessed():
    approval = pl.DataFrame(
        {"action": ["approve"], "record_ids": [["a1", "a2", "b1", "b2"]], "groups": [None]},
        schema={
            "action": pl.String,
            "record_ids": pl.List(pl.String),
            "groups": pl.List(pl.List(pl.String)),
        },
    )
    decisions = decide_clusters(
        one_cluster("a1", "a2", "b1", "b2"),
        IVANOV_PAIRS,
        config=CONFIG,
        decisions=approval,
        contacts=IVANOVS,
    )
    assert set(decisions.clusters.get_column("outcome")) == {Outcome.APPROVED}
    assert decisions.review_queue.is_empty()


def test_flagged_shapes_come_before_review_band_proposals():
    clusters = pl.concat(
        [
            one_cluster("a1", "a2", "b1", "b2"),
            # A big review-band proposal: five single records linked at 0.9.
            pl.DataFrame(
                {
                    "record_id": ["x1", "x2", "x3", "x4", "x5"],
                    "strong_cluster_id": ["x1", "x2", "x3", "x4", "x5"],
                    "candidate_cluster_id": ["x1"] * 5,
                }
            ),
        ]
    )
    band = pairs(*((f"x{i}", f"x{i + 1}", 0.9) for i in range(1, 5)))
    decisions = decide_clusters(
        clusters,
        IVANOV_PAIRS.vstack(band),
        config=CONFIG,
        contacts=IVANOVS.vstack(contacts(**{f"x{i}": ([], []) for i in range(1, 6)})),
    )
    queue = decisions.review_queue.sort("priority")
    assert queue.get_column("flags").to_list() == [
        [Shape.DISJOINT_IDENTIFIERS],
        [Shape.REVIEW_BAND],
    ]
    assert "between the review and auto-merge thresholds" in queue.item(1, "reason")


def clique(prefix, size, probability=0.9999):
    ids = [f"{prefix}{i}" for i in range(1, size + 1)]
    return [(a, b, probability) for i, a in enumerate(ids) for b in ids[i + 1 :]]


# Two clients of four records each, every pair of a client near certain, and one record
# pair between them, sharing an office e-mail, that just clears the auto-merge threshold:
# 13 strong pairs of 28.
TWO_CLIENTS = pairs(*clique("a", 4), *clique("b", 4), ("a1", "b1", 0.992))
TWO_CLIENTS_CONTACTS = contacts(
    **{f"a{i}": (["+79531406247"], ["office@firma.ru"] if i == 1 else []) for i in range(1, 5)},
    **{f"b{i}": (["+79876956095"], ["office@firma.ru"] if i == 1 else []) for i in range(1, 5)},
)

EIGHT = ("a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4")


def test_loosely_connected_cluster_is_merged_in_its_tight_cores_and_proposed():
    decisions = decide_clusters(
        one_cluster(*EIGHT), TWO_CLIENTS, config=CONFIG, contacts=TWO_CLIENTS_CONTACTS
    )
    a, b = cluster_of(decisions, "a1"), cluster_of(decisions, "b1")
    assert a["cluster_id"] != b["cluster_id"]
    assert {cluster_of(decisions, r)["cluster_id"] for r in EIGHT} == {
        a["cluster_id"],
        b["cluster_id"],
    }
    assert a["outcome"] == b["outcome"] == Outcome.AUTO_MERGE
    proposal = decisions.review_queue.row(0, named=True)
    assert proposal["record_ids"] == list(EIGHT)
    assert proposal["flags"] == [Shape.LOOSELY_CONNECTED]


def test_oversized_cluster_is_merged_in_cores_no_larger_than_the_limit():
    decisions = decide_clusters(
        one_cluster(*EIGHT),
        TWO_CLIENTS,
        config=CONFIG.model_copy(update={"max_cluster_size": 5, "min_cluster_density": 0.0}),
        contacts=TWO_CLIENTS_CONTACTS,
    )
    sizes = decisions.clusters.group_by("cluster_id").len().get_column("len").sort().to_list()
    assert sizes == [4, 4]
    assert decisions.review_queue.row(0, named=True)["flags"] == [Shape.OVERSIZED]


def test_without_tight_cores_an_untrusted_cluster_stays_apart():
    decisions = decide_clusters(
        one_cluster(*EIGHT),
        TWO_CLIENTS,
        config=CONFIG.model_copy(update={"merge_tight_cores": False}),
        contacts=TWO_CLIENTS_CONTACTS,
    )
    assert decisions.clusters.get_column("cluster_id").n_unique() == 8
    assert set(decisions.clusters.get_column("outcome")) == {Outcome.REVIEW}


def test_a_core_of_an_oversized_cluster_is_split_at_disjoint_identifiers():
    # The "a" core holds a3, tied to a1 and a2 by names alone, with a phone of its own.
    edges = pairs(*clique("a", 3), *clique("b", 3), ("a1", "b1", 0.992))
    identifiers = contacts(
        a1=(["+79531406247"], []),
        a2=(["+79531406247"], []),
        a3=(["+79161112233"], []),
        **{f"b{i}": ([], ["b@firma.ru"]) for i in range(1, 4)},
    )
    decisions = decide_clusters(
        one_cluster("a1", "a2", "a3", "b1", "b2", "b3"),
        edges,
        config=CONFIG.model_copy(update={"max_cluster_size": 4}),
        contacts=identifiers,
    )
    together = decisions.clusters.group_by("cluster_id").agg(pl.col("record_id").sort())
    assert sorted(together["record_id"].to_list()) == [["a1", "a2"], ["a3"], ["b1", "b2", "b3"]]
    flags = decisions.review_queue.row(0, named=True)["flags"]
    assert flags == [Shape.DISJOINT_IDENTIFIERS, Shape.OVERSIZED]
