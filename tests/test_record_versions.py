"""A decision lasts until one of its records changes; then the proposal is asked again."""

import sqlite3

import polars as pl

from dedup_pipeline.config import DecisionConfig
from dedup_pipeline.review import DecisionStore, Outcome, ReviewDecision, decide_clusters
from dedup_pipeline.review.shapes import Shape
from dedup_pipeline.review.versions import record_versions
from tests.test_decide import match_clusters, pairs

CONFIG = DecisionConfig(auto_merge_threshold=0.99, review_threshold=0.8, max_cluster_size=3)


def contact(record_id, **fields):
    row = {
        "record_id": record_id,
        "first_name": "Anna",
        "middle_name": None,
        "last_name": "Smith",
        "full_name": None,
        "phones": ["8 916 000-11-22"],
        "emails": ["anna@example.com"],
        "company": None,
        "city": "Moscow",
        "extra": None,
        "updated_at": "2026-01-01",
    }
    return {**row, **fields}


def frame(*rows):
    return pl.DataFrame(list(rows), schema_overrides={"middle_name": pl.String})


def version(row):
    return record_versions(frame(row)).item(0, "record_version")


def test_a_version_changes_with_the_content_not_with_timestamps():
    base = version(contact("a"))
    assert len(base) == 16
    assert version(contact("a", updated_at="2026-11-23")) == base
    assert version(contact("a", phones=["8 916 000-11-23"])) != base
    assert version(contact("a", last_name="Smyth")) != base
    assert version(contact("a", extra='{"dob": "19800101"}')) != base
    # Content, not identity: the same card in another source has the same version.
    assert version(contact("b")) == base


def decided(action, record_ids, seen):
    return pl.DataFrame(
        [
            {
                "action": action,
                "record_ids": record_ids,
                "groups": None,
                "record_versions": [{"record_id": r, "record_version": v} for r, v in seen.items()],
            }
        ],
        schema={
            "action": pl.String,
            "record_ids": pl.List(pl.String),
            "groups": pl.List(pl.List(pl.String)),
            "record_versions": pl.List(
                pl.Struct({"record_id": pl.String, "record_version": pl.String})
            ),
        },
    )


REVIEW_BAND = (
    match_clusters([("a", "a", "a"), ("b", "b", "a")]),
    pairs(("a", "b", 0.9)),
)
NOW = pl.DataFrame({"record_id": ["a", "b"], "record_version": ["v1", "v1"]})


def test_a_decision_on_unchanged_records_holds():
    approval = decided("approve", ["a", "b"], {"a": "v1", "b": "v1"})
    result = decide_clusters(*REVIEW_BAND, config=CONFIG, decisions=approval, record_versions=NOW)
    assert set(result.clusters.get_column("outcome")) == {Outcome.APPROVED}
    assert result.review_queue.is_empty()


def test_a_decision_on_a_changed_record_is_set_aside_and_asked_again():
    rejection = decided("reject", ["a", "b"], {"a": "v1", "b": "v0"})
    result = decide_clusters(*REVIEW_BAND, config=CONFIG, decisions=rejection, record_versions=NOW)
    proposal = result.review_queue.row(0, named=True)
    assert proposal["record_ids"] == ["a", "b"]
    assert proposal["flags"] == [Shape.RECORDS_CHANGED]
    assert "changed since a reviewer decided" in proposal["reason"]
    # Without versions (an older decision), the decision holds as before.
    legacy = rejection.with_columns(
        pl.lit(None).cast(rejection.schema["record_versions"]).alias("record_versions")
    )
    kept = decide_clusters(*REVIEW_BAND, config=CONFIG, decisions=legacy, record_versions=NOW)
    assert kept.review_queue.is_empty()


def test_a_changed_approval_no_longer_merges_by_itself():
    approval = decided("approve", ["a", "b"], {"a": "v0", "b": "v1"})
    result = decide_clusters(*REVIEW_BAND, config=CONFIG, decisions=approval, record_versions=NOW)
    assert set(result.clusters.get_column("outcome")) == {Outcome.REVIEW}
    assert result.review_queue.height == 1


def test_the_store_keeps_versions_and_upgrades_an_older_database(tmp_path):
    path = tmp_path / "decisions.sqlite"
    # A store made before decisions kept record versions.
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            create table review_users (user_id integer primary key, username varchar(255)
              not null unique, display_name varchar(255), password_hash text not null,
              created_at datetime not null);
            create table review_decisions (decision_id integer primary key,
              cluster_key varchar(64) not null, action varchar(16) not null,
              record_ids text not null, groups text, survivor_record_id text,
              reviewer varchar(255) not null references review_users(username),
              decided_at datetime not null, review_cluster_id text, note text);
            insert into review_users values (1, 'anna', null, 'x', '2026-01-01 00:00:00');
            insert into review_decisions values (1, 'k', 'reject', '["a", "b"]', null, null,
              'anna', '2026-01-02 00:00:00', null, null);
            """
        )
    with DecisionStore.from_path(path) as store:
        store.add_user("boris", "secret-boris")
        store.record(
            ReviewDecision(
                action="approve",
                record_ids=["c", "d"],
                reviewer="boris",
                record_versions={"c": "v1", "d": "v2"},
            )
        )
        table = store.decisions()
    versions = dict(zip(table["action"], table["record_versions"].to_list(), strict=True))
    assert versions["reject"] is None
    assert versions["approve"] == [
        {"record_id": "c", "record_version": "v1"},
        {"record_id": "d", "record_version": "v2"},
    ]
