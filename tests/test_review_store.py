"""Review decisions and reviewers, stored apart from the warehouse (SQLite here)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from dedup_pipeline.review.store import (
    DECISION_SCHEMA,
    DecisionStore,
    ReviewDecision,
    make_cluster_key,
)

RECORDS = ["bitrix24:1", "hubspot:7", "webform:3"]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    with DecisionStore(f"sqlite:///{tmp_path}/review/decisions.sqlite") as store:
        store.add_user("anna", "s3cret-pass", display_name="Anna K.")
        store.add_user("boris", "another-pass")
        yield store


def _decision(**fields) -> ReviewDecision:
    values = {"action": "approve", "record_ids": RECORDS, "reviewer": "anna", "decided_at": T0}
    values.update(fields)
    return ReviewDecision(**values)


def test_each_action_round_trips(store):
    decisions = [
        _decision(survivor_record_id="hubspot:7", review_cluster_id="rc-1", note="same phone"),
        _decision(action="reject", record_ids=["a:1", "b:2"], decided_at=T0 + timedelta(1)),
        _decision(
            action="split",
            record_ids=["c:1", "c:2", "c:3"],
            groups=[["c:3", "c:1"], ["c:2"]],
            survivor_record_id="c:1",
            reviewer="boris",
            decided_at=T0 + timedelta(2),
        ),
    ]
    ids = [store.record(decision) for decision in decisions]
    assert len(set(ids)) == 3

    table = store.decisions()
    assert table.schema == pl.Schema(DECISION_SCHEMA)
    assert table["decision_id"].to_list() == ids
    for row, decision in zip(table.iter_rows(named=True), decisions, strict=True):
        assert row["cluster_key"] == decision.cluster_key
        stored = ReviewDecision(
            **{k: v for k, v in row.items() if k in ReviewDecision.model_fields}
        )
        assert stored == decision
    assert table["decided_at"][0] == T0


def test_latest_only_keeps_the_newest_decision_per_cluster(store):
    first = store.record(_decision(decided_at=T0))
    # Same records in another order: the same proposal; the reviewer changed their mind.
    changed = store.record(
        _decision(action="reject", record_ids=RECORDS[::-1], decided_at=T0 + timedelta(hours=1))
    )
    # Recorded later but decided earlier (another timezone): not the latest.
    store.record(_decision(reviewer="boris", decided_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC)))
    other = store.record(_decision(record_ids=["x:1", "x:2"]))

    latest = store.decisions()
    assert sorted(latest["decision_id"].to_list()) == sorted([changed, other])
    assert latest.filter(pl.col("decision_id") == changed)["action"].item() == "reject"
    assert latest["cluster_key"].n_unique() == latest.height

    history = store.decisions(latest_only=False)
    assert history.height == 4
    assert history["decision_id"][0] == first


def test_cluster_key_depends_only_on_the_set_of_records():
    assert _decision().cluster_key == _decision(record_ids=RECORDS[::-1]).cluster_key
    assert _decision().cluster_key == make_cluster_key(RECORDS)
    assert _decision().cluster_key != _decision(record_ids=RECORDS[:2]).cluster_key
    assert len(_decision().cluster_key) == 16


def test_an_empty_store_gives_an_empty_table(store):
    assert store.decisions().schema == pl.Schema(DECISION_SCHEMA)
    assert store.decisions().is_empty()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"action": "split"}, "groups", "requires groups"),
        ({"action": "split", "groups": [RECORDS]}, "groups", "at least 2 groups"),
        ({"action": "split", "groups": [RECORDS[:1], []]}, "groups", "must not be empty"),
        (
            {"action": "split", "groups": [RECORDS[:2], RECORDS[1:2]]},
            "groups",
            "in more than one group: hubspot:7; in no group: webform:3",
        ),
        (
            {"action": "split", "groups": [RECORDS, ["other:9"]]},
            "groups",
            "not in record_ids: other:9",
        ),
        ({"groups": [RECORDS[:1], RECORDS[1:]]}, "groups", "only allowed for action 'split'"),
        ({"survivor_record_id": "other:9"}, "survivor_record_id", "not one of record_ids"),
        (
            {"action": "reject", "survivor_record_id": RECORDS[0]},
            "survivor_record_id",
            "no survivor",
        ),
        ({"record_ids": RECORDS[:1]}, "record_ids", "at least 2 records"),
        ({"record_ids": [RECORDS[0], RECORDS[0]]}, "record_ids", "unique"),
        ({"reviewer": "  "}, "reviewer", "must not be empty"),
        ({"decided_at": datetime(2025, 3, 1, 9, 0)}, "decided_at", "timezone-aware"),
        ({"action": "merge"}, "action", "'approve', 'reject' or 'split'"),
    ],
)
def test_invalid_decisions_name_the_field(fields, field, message):
    with pytest.raises(ValidationError) as caught:
        _decision(**fields)
    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [(field,)]
    assert message in str(caught.value)


def test_decisions_are_immutable_and_utc_by_default():
    decision = ReviewDecision(action="approve", record_ids=RECORDS, reviewer="anna")
    assert decision.decided_at.tzinfo is UTC
    with pytest.raises(ValidationError):
        decision.action = "reject"  # type: ignore[misc]


def test_an_unknown_reviewer_cannot_record(store):
    with pytest.raises(ValueError, match="unknown reviewer 'mallory'"):
        store.record(_decision(reviewer="mallory"))


def test_passwords_are_stored_hashed_and_verified(store):
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM review_users")).mappings().all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert "s3cret-pass" not in stored
    assert "another-pass" not in stored
    assert all(row["password_hash"].startswith("$argon2id$") for row in rows)

    assert store.users() == ["anna", "boris"]
    assert store.verify_user("anna", "s3cret-pass")
    assert not store.verify_user("anna", "another-pass")
    assert not store.verify_user("anna", "")
    assert not store.verify_user("nobody", "s3cret-pass")


def test_users_are_unique_and_need_a_password(store):
    with pytest.raises(ValueError, match="already exists"):
        store.add_user("anna", "another long pass")
    with pytest.raises(ValueError, match="at least 8 characters"):
        store.add_user("carl", "")
    with pytest.raises(ValueError, match="username must not be empty"):
        store.add_user(" ", "x")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a", "at least 8 characters"),
        ("password1", "too common or too simple"),
        ("aaaaaaaaaaaa", "too common or too simple"),
        ("Carl.Berg", "must not be the username"),
    ],
)
def test_a_weak_password_is_refused(store, password, problem):
    with pytest.raises(ValueError, match=problem):
        store.add_user("carl.berg", password)
    assert "carl.berg" not in store.users()


def test_a_password_can_be_reset(store):
    store.set_password("anna", "a new long password")
    assert store.verify_user("anna", "a new long password")
    assert not store.verify_user("anna", "s3cret-pass")
    with pytest.raises(ValueError, match="at least 8"):
        store.set_password("anna", "short")
    with pytest.raises(ValueError, match="no reviewer 'nobody'"):
        store.set_password("nobody", "a new long password")


def test_two_stores_share_one_sqlite_file(tmp_path):
    path = tmp_path / "nested" / "dir" / "decisions.sqlite"
    with DecisionStore.from_path(path) as writer, DecisionStore.from_path(path) as reader:
        assert path.exists()
        with writer.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"

        writer.add_user("anna", "anna-pass-1")
        assert reader.verify_user("anna", "anna-pass-1")
        # A reader in the middle of a transaction does not block the writer (WAL).
        with reader.engine.connect() as open_read:
            open_read.exec_driver_sql("BEGIN")
            open_read.execute(sa.text("SELECT count(*) FROM review_decisions")).scalar()
            writer.record(_decision())
            open_read.exec_driver_sql("COMMIT")
        assert reader.decisions().height == 1

        # Both write at once from several threads: they wait for each other, none fails.
        errors: list[BaseException] = []

        def write(target: DecisionStore, offset: int) -> None:
            try:
                for i in range(10):
                    target.record(_decision(record_ids=[f"t:{offset}", f"t:{offset}-{i}"]))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(target, n))
            for n, target in enumerate([writer, reader, writer, reader])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert reader.decisions(latest_only=False).height == 41
        assert writer.decisions().height == 41


def test_other_urls_are_accepted(tmp_path, monkeypatch):
    with DecisionStore("sqlite+pysqlite:///:memory:") as store:
        assert store.engine.dialect.name == "sqlite"
        store.add_user("anna", "anna-pass-1")
        store.record(_decision())
        assert store.decisions().height == 1
    # Relative SQLite paths are relative to the working directory; directories are created.
    monkeypatch.chdir(tmp_path)
    with DecisionStore("sqlite:///output/review/decisions.sqlite") as store:
        assert store.users() == []
    assert (tmp_path / "output" / "review" / "decisions.sqlite").exists()
