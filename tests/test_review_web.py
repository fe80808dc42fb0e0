"""The reviewers' web app on hand-made exports: login, CSRF, escaping and decisions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from dedup_pipeline.config import PipelineConfig, load_config
from dedup_pipeline.review.decide import CLUSTER_SCHEMA, REVIEW_QUEUE_SCHEMA
from dedup_pipeline.review.store import DecisionStore
from dedup_pipeline.review.web import create_app
from tests.conftest import records_frame, source_record

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse"
XSS = "<script>alert(1)</script>"

# Two proposals: "crm:1" (an ordinary pair) and "crm:3" (a name with markup in it).
PROPOSALS = {"crm:1": ["crm:1", "web:7"], "crm:3": ["crm:3", "crm:4", "web:9"]}


def _write_exports(directory: Path, proposals: dict[str, list[str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    contacts = records_frame(
        source_record(
            "crm", "1", first_name="Anna", last_name="Smith", phones=["+7 916 000-11-22"]
        ),
        source_record("web", "7", full_name="Anna Smith", emails=["anna@example.com"]),
        source_record("crm", "3", first_name="Boris", last_name="Orlov", city="Kazan"),
        source_record("crm", "4", first_name="Boris", last_name="Orlov", city="Moscow"),
        source_record("web", "9", full_name=XSS, company="ACME"),
        source_record("crm", "5", first_name="Solo", last_name="Person"),
    )
    queue = pl.DataFrame(
        [
            {
                "review_cluster_id": review_cluster_id,
                "record_ids": record_ids,
                "record_count": len(record_ids),
                "client_cluster_count": len(record_ids),
                "confidence": 0.9 - 0.1 * priority,
                "reason": f"{len(record_ids)} client clusters linked by pairs",
                # The first proposal was flagged by its shape, the others by the review band.
                "flags": ["disjoint_identifiers"] if priority == 1 else ["review_band"],
                "priority": priority,
            }
            for priority, (review_cluster_id, record_ids) in enumerate(proposals.items(), 1)
        ],
        schema=REVIEW_QUEUE_SCHEMA,
    )
    in_review = {record: rc for rc, records in proposals.items() for record in records}
    clusters = pl.DataFrame(
        [
            {
                "record_id": record_id,
                "cluster_id": record_id,
                "cluster_size": 1,
                "outcome": "review" if record_id in in_review else "unique",
                "confidence": None,
                "review_cluster_id": in_review.get(record_id),
            }
            for record_id in contacts["record_id"]
        ],
        schema=CLUSTER_SCHEMA,
    )
    pairs = pl.DataFrame(
        {
            "record_id_l": ["crm:1", "crm:3", "crm:4"],
            "record_id_r": ["web:7", "crm:4", "web:9"],
            "match_weight": [4.2, 3.1, 2.5],
            "match_probability": [0.95, 0.9, 0.85],
            "match_key": ["same phone", "same first and last name", "same e-mail"],
            "names_conflict": [False, False, True],
            "mw_first_name_last_name": [5.5, 6.0, -3.25],
            "mw_phones": [8.0, -1.5, 0.0],
        }
    )

    # The run's model: the weight of each level, as Splink computes it (log2 m/u).
    def level(label, weight):
        return {"label_for_charts": label, "m_probability": 0.5, "u_probability": 0.5 / 2**weight}

    model = {
        "comparisons": [
            {
                "output_column_name": "first_name_last_name",
                "comparison_levels": [
                    {"label_for_charts": "(first_name is NULL)", "is_null_level": True},
                    level("Exact match on first_name and last_name", 6.0),
                    level(
                        "(Jaro-Winkler distance of first_name >= 0.92) AND "
                        "(Jaro-Winkler distance of last_name >= 0.92)",
                        5.5,
                    ),
                    level("All other comparisons", -3.25),
                ],
            },
            {
                "output_column_name": "phones",
                "comparison_levels": [
                    {"label_for_charts": "phones is NULL", "is_null_level": True},
                    level("A personal phone in common", 8.0),
                    level("All other comparisons", -1.5),
                ],
            },
        ]
    }
    (directory / "splink_model.json").write_text(json.dumps(model), encoding="utf-8")
    for name, frame in {
        "contacts": contacts,
        "review_queue": queue,
        "clusters": clusters,
        "scored_pairs": pairs,
    }.items():
        frame.write_parquet(directory / f"{name}.parquet")


@pytest.fixture
def config(tmp_path) -> PipelineConfig:
    text = (ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8")
    text = text.replace("../data/sample/", f"{ROOT / 'data' / 'sample'}/").replace(
        "../output/sample", str(tmp_path / "out")
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    _write_exports(config.output.directory, PROPOSALS)
    with DecisionStore(config.review.url) as store:
        store.add_user("anna", PASSWORD)
    return config


@pytest.fixture
def client(config) -> TestClient:
    return TestClient(create_app(config, secret_key="test-secret"))


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _login(client: TestClient, username: str = "anna", password: str = PASSWORD):
    token = _token(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


@pytest.fixture
def logged_in(client) -> TestClient:
    assert _login(client).status_code == 303
    return client


def _decide(client: TestClient, proposal: str, **fields) -> object:
    page = client.get(f"/proposals/{proposal}")
    data = {"csrf_token": _token(page.text), "record_id": PROPOSALS[proposal], **fields}
    return client.post(f"/proposals/{proposal}/decision", data=data, follow_redirects=False)


def _decisions(config: PipelineConfig) -> pl.DataFrame:
    with DecisionStore(config.review.url) as store:
        return store.decisions()


def test_pages_redirect_to_login_when_signed_out(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    response = client.get("/proposals/crm:1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fproposals%2Fcrm%3A1"


def test_wrong_password_is_refused(client):
    response = _login(client, password="wrong")
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert _login(client, username="nobody").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_queue_lists_proposals_and_filters(logged_in):
    page = logged_in.get("/")
    assert page.status_code == 200
    assert "Signed in as" in page.text and ">anna<" in page.text
    assert 'href="/proposals/crm:1"' in page.text and 'href="/proposals/crm:3"' in page.text
    assert "Anna Smith" in page.text

    found = logged_in.get("/", params={"q": "orlov"}).text
    assert 'href="/proposals/crm:3?q=orlov"' in found and "/proposals/crm:1" not in found
    by_size = logged_in.get("/", params={"sort": "size"}).text
    assert by_size.index("/proposals/crm:3") < by_size.index("/proposals/crm:1")


def test_queue_filters_by_flag_and_keeps_the_filter_through_a_decision(logged_in, config):
    page = logged_in.get("/").text
    assert "no shared phone or e-mail" in page and "review band" in page
    flagged = logged_in.get("/", params={"flag": "disjoint_identifiers"}).text
    assert 'href="/proposals/crm:1?flag=disjoint_identifiers"' in flagged
    assert "/proposals/crm:3" not in flagged
    banded = logged_in.get("/", params={"flag": "review_band"}).text
    assert "/proposals/crm:3" in banded and "/proposals/crm:1" not in banded
    # An unknown flag shows everything rather than an empty queue.
    assert "/proposals/crm:1" in logged_in.get("/", params={"flag": "bogus"}).text

    answer = _decide(logged_in, "crm:3", action="reject", flag="review_band")
    assert answer.status_code == 303
    assert "flag=review_band" in answer.headers["location"]


def test_contact_values_are_escaped(logged_in):
    page = logged_in.get("/proposals/crm:3")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    # Side by side, differences highlighted, and why the records matched.
    assert '<td class="diff">Moscow</td>' in page.text
    assert "same first and last name" in page.text  # the blocking rule that found it
    # Each comparison in words, with what it weighed, read from the run's model.
    assert "<th>Name</th>" in page.text and "<th>Phones</th>" in page.text
    assert "same first name and last name" in page.text
    assert re.search(r"different <span class=\"weight\">\N{MINUS SIGN}1\.5</span>", page.text)
    assert "mw_" not in page.text and "names_conflict" not in page.text
    other = logged_in.get("/proposals/crm:1").text
    assert "first name and last name alike" in other
    assert re.search(r"A personal phone in common <span class=\"weight\">\+8\.0</span>", other)

    queue = logged_in.get("/", params={"q": "script"}).text
    assert "&lt;script&gt;" in queue and "<script>alert(1)" not in queue


def test_post_without_csrf_token_is_refused(logged_in, config):
    data = {"action": "approve", "record_id": PROPOSALS["crm:1"]}
    response = logged_in.post("/proposals/crm:1/decision", data=data, follow_redirects=False)
    assert response.status_code == 403
    data["csrf_token"] = "forged"
    response = logged_in.post("/proposals/crm:1/decision", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert logged_in.post("/logout", follow_redirects=False).status_code == 403
    assert _decisions(config).is_empty()


def test_approve_records_the_reviewer_and_leaves_the_queue(logged_in, config):
    response = _decide(logged_in, "crm:1", action="approve", survivor="web:7", note="same phone")
    assert response.status_code == 303
    assert response.headers["location"] == "/proposals/crm:3"

    decision = _decisions(config).row(0, named=True)
    assert decision["action"] == "approve"
    assert decision["reviewer"] == "anna"
    assert sorted(decision["record_ids"]) == PROPOSALS["crm:1"]
    assert decision["survivor_record_id"] == "web:7"
    assert decision["review_cluster_id"] == "crm:1"
    assert decision["note"] == "same phone"
    queue = logged_in.get("/").text
    assert "/proposals/crm:1" not in queue and "/proposals/crm:3" in queue
    assert "Already decided" in logged_in.get("/proposals/crm:1").text


def test_invalid_split_shows_the_error(logged_in, config):
    # Each record starts in the split group of its client cluster.
    page = logged_in.get("/proposals/crm:3").text
    assert re.findall(r'<option value="(\d)" selected>', page) == ["1", "2", "3"]
    response = _decide(logged_in, "crm:3", action="split", group=["1", "1", "1"])
    assert response.status_code == 400
    assert "a split needs at least 2 groups, got 1" in response.text
    assert _decisions(config).is_empty()


def test_split_and_reject_are_recorded(logged_in, config):
    response = _decide(logged_in, "crm:3", action="split", group=["1", "2", "1"])
    assert response.status_code == 303
    response = _decide(logged_in, "crm:1", action="reject", survivor="web:7")
    assert response.status_code == 303
    assert response.headers["location"] == "/"  # nothing left to review

    decisions = {row["action"]: row for row in _decisions(config).iter_rows(named=True)}
    assert decisions["split"]["groups"] == [["crm:3", "web:9"], ["crm:4"]]
    assert decisions["reject"]["survivor_record_id"] is None
    assert decisions["reject"]["reviewer"] == "anna"
    assert "Nothing to review" in logged_in.get("/").text


def test_new_exports_are_read_and_changed_proposals_come_back(logged_in, config):
    assert _decide(logged_in, "crm:1", action="reject").status_code == 303
    assert "/proposals/crm:1" not in logged_in.get("/").text

    # A new run adds a record to the rejected proposal: it is asked again.
    _write_exports(config.output.directory, {"crm:1": ["crm:1", "crm:5", "web:7"]})
    path = config.output.directory / "review_queue.parquet"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    queue = logged_in.get("/").text
    assert "/proposals/crm:1" in queue and "/proposals/crm:3" not in queue


def test_repeated_wrong_passwords_lock_the_user_out_then_let_them_back(config):
    from dedup_pipeline.review.web.security import LoginThrottle

    throttle = LoginThrottle(max_failures=3, window=600, lockout=600)
    client = TestClient(create_app(config, secret_key="test-secret", login_throttle=throttle))
    for _ in range(3):
        assert _login(client, password="wrong guess").status_code == 401
    # Locked: even the right password is refused, and the page says why.
    locked = _login(client)
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.text
    assert client.get("/", follow_redirects=False).status_code == 303
    # Once the lock-out has passed, the right password works and clears the count.
    throttle._failures["anna"] = [t - 601 for t in throttle._failures["anna"]]
    assert _login(client).status_code == 303


def test_logout_ends_the_session_on_the_server_too(client):
    assert _login(client).status_code == 303
    stolen = dict(client.cookies)
    page = client.get("/")
    assert page.status_code == 200
    client.post("/logout", data={"csrf_token": _token(page.text)}, follow_redirects=False)
    # The cookie as it was before logging out no longer logs anyone in.
    client.cookies.clear()
    client.cookies.update(stolen)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_secure_cookies_are_sent_over_https_only(config):
    client = TestClient(
        create_app(config, secret_key="test-secret", secure_cookies=True),
        base_url="https://testserver",
    )
    response = _login(client)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie
