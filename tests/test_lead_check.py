"""The incoming-lead check on the sample run: the answer, over HTTP and on the command line."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient
from typer.testing import CliRunner

from assets.run import run_full_sweep
from dedup_pipeline.cli import app as cli_app
from dedup_pipeline.config import BlacklistConfig, ExtraFieldConfig, MatchConfig, load_config
from dedup_pipeline.leads import (
    Lead,
    LeadChecker,
    LeadCheckUnavailable,
    LeadRejected,
    create_app,
)
from dedup_pipeline.leads.app import LeadServerInsecureError, LeadService
from dedup_pipeline.leads.check import _found_by_rules
from dedup_pipeline.match.model import prediction_rules
from dedup_pipeline.match.prepare import NAME_BLOCKS
from dedup_pipeline.sinks import table_directory
from tests.conftest import sample_config_in

runner = CliRunner()

#: Nobody in the sample: a valid Moscow mobile, a made-up name and mailbox.
NEW_PERSON = {
    "phone": "+7 (999) 000-12-34",
    "email": "aristarkh.kvazimodov@example.org",
    "name": "Аристарх Квазимодов",
    "city": "Тверь",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config_path = sample_config_in(tmp_path_factory.mktemp("leads"))
    run_full_sweep(config_path)
    return config_path


@pytest.fixture(scope="module")
def tables(run) -> dict[str, pl.DataFrame]:
    directory = table_directory(load_config(run).warehouse.path)
    names = ("contacts", "clusters", "match_input", "scored_pairs")
    return {name: pl.read_parquet(directory / f"{name}.parquet") for name in names}


@pytest.fixture(scope="module")
def checker(run):
    with LeadChecker.load(load_config(run)) as checker:
        yield checker


def _national(e164: str) -> str:
    return f"8 ({e164[2:5]}) {e164[5:8]}-{e164[8:10]}-{e164[10:]}"


@pytest.fixture(scope="module")
def repeat(tables) -> dict:
    """A Bitrix24 client record, and a lead repeating it: the phone written another way,
    the name in Latin letters, surname first, with the other form of the first name
    ("Novikova Elizaveta" for "Лиза Новикова")."""
    record = (
        tables["contacts"]
        .join(tables["clusters"].select("record_id", "cluster_id", "outcome"), on="record_id")
        .join(tables["match_input"].select("record_id", "phones_personal"), on="record_id")
        .filter(
            (pl.col("source") == "bitrix24")
            & pl.col("first_name").str.contains(r"^[А-ЯЁ][а-яё]+$")
            & pl.col("last_name").str.contains(r"^[А-ЯЁ][а-яё]+$")
            & (pl.col("phones_e164").list.len() == 1)
            & pl.col("phones_e164").list.first().str.starts_with("+79")
            & (pl.col("phones_personal") == pl.col("phones_e164"))
            & (pl.col("first_name_variants").list.len() > 1)
            & (pl.col("outcome") == "auto_merge")
        )
        .sort("record_id")
        .row(0, named=True)
    )
    phone = record["phones_e164"][0]
    written = _national(phone)
    assert written not in record["phones"]
    nickname = next(v for v in record["first_name_variants"] if v != record["first_name_key"])
    name = f"{record['last_name_key'].capitalize()} {nickname.capitalize()}"
    return {"record": record, "lead": {"phone": written, "name": name}, "e164": phone}


def test_a_lead_repeating_a_client_is_that_clients_duplicate_because_of_the_phone(checker, repeat):
    record = repeat["record"]
    answer = checker.check(Lead.model_validate(repeat["lead"]))

    assert answer.lead.phones == [repeat["e164"]]
    assert answer.lead.last_name == record["last_name_key"]  # the surname recognised as such
    assert answer.matches, answer
    best = answer.matches[0]
    assert best.client_id == record["cluster_id"]
    assert best.label == "duplicate"
    assert best.match_probability >= checker.config.decision.auto_merge_threshold
    assert best.outcome == "auto_merge"
    assert record["record_id"] in best.matched_record_ids
    assert repeat["e164"] in best.profile.phones
    why = {reason.comparison: reason for reason in best.why}
    assert why["phones"].level == "A personal phone in common"
    assert why["phones"].match_weight > 5
    assert why["first_name_last_name"].match_weight > 0
    assert why["first_name_last_name"].level != "All other comparisons"
    found = {r.record_id: r.found_by for r in best.matched_records}
    assert found[record["record_id"]] == "same phone"
    assert answer.candidates_considered >= len(best.matched_record_ids)
    assert answer.run_id is not None and answer.elapsed_ms > 0


def test_a_new_person_matches_nobody(checker, tables):
    assert "+79990001234" not in tables["contacts"]["phones_e164"].explode().to_list()
    answer = checker.check(Lead.model_validate(NEW_PERSON))
    assert answer.lead.phones == ["+79990001234"]
    assert answer.lead.emails == ["aristarkh.kvazimodov@example.org"]
    assert answer.matches == []
    assert answer.flags == [] and answer.flag_detail is None


def test_a_junk_or_blacklisted_lead_says_so(checker, run):
    bot = Lead.model_validate({"name": "asdf", "phone": "123", "email": "x1@mailinator.com"})
    answer = checker.check(bot)
    assert answer.flags == ["junk"]
    assert answer.flag_detail.startswith("junk: no valid phone")
    listed = load_config(run).model_copy(
        update={"blacklist": BlacklistConfig(phones=[NEW_PERSON["phone"]])}
    )
    with LeadChecker.load(listed, warm_up=False) as strict:
        answer = strict.check(Lead.model_validate(NEW_PERSON))
    assert answer.flags == ["blacklisted_phone"]
    assert answer.flag_detail == "phone +79990001234 is blacklisted"


def test_a_lead_scores_each_record_as_the_run_scored_its_copy(checker, tables):
    """Records sent back as leads: each pair with a record the run paired theirs with (at
    the review threshold) scores the run's weight, term frequencies and all."""
    review = checker.config.decision.review_threshold
    pairs = tables["scored_pairs"].filter(
        (pl.col("match_probability") >= review) & ~pl.col("names_conflict")
    )
    both = pl.concat(
        [
            pairs.select(record="record_id_l", other="record_id_r", weight="match_weight"),
            pairs.select(record="record_id_r", other="record_id_l", weight="match_weight"),
        ]
    )
    chosen = (
        both.select("record")
        .unique()
        .with_columns(source=pl.col("record").str.extract(r"^([a-z0-9_]+):"))
        .sort("record")
        .group_by("source", maintain_order=True)
        .head(5)
        .get_column("record")
    )
    contacts = tables["contacts"].filter(pl.col("record_id").is_in(chosen.implode()))
    compared = 0
    for row in contacts.iter_rows(named=True):
        lead = Lead(
            phones=row["phones"] or [],
            emails=row["emails"] or [],
            first_name=row["first_name"],
            middle_name=row["middle_name"],
            last_name=row["last_name"],
            full_name=row["full_name"],
            company=row["company"],
            city=row["city"],
            source=row["source"],
        )
        answer = checker.check(lead)
        scored = {r.record_id: r.match_weight for m in answer.matches for r in m.matched_records}
        for other, weight in (
            both.filter(pl.col("record") == row["record_id"]).select("other", "weight").iter_rows()
        ):
            assert scored.get(other) == pytest.approx(weight, abs=1e-9), (row["record_id"], other)
            compared += 1
    assert compared >= 15


def test_values_the_model_cannot_use_are_reported(checker):
    answer = checker.check(Lead(phones=["12", "+7 916 000"], full_name="Аристарх Квазимодов"))
    assert answer.lead.phones == []
    assert answer.lead.invalid_phones == ["12", "+7 916 000"]
    with pytest.raises(LeadRejected, match="inn"):
        checker.check(Lead(full_name="Аристарх Квазимодов", extra={"inn": "7701234567"}))


def test_a_lead_needs_a_phone_an_email_or_a_name():
    with pytest.raises(ValidationError, match="a lead needs at least a phone"):
        Lead(company="ООО Ромашка", city="Москва")
    with pytest.raises(ValidationError, match="a lead needs at least a phone"):
        Lead(phones=["", " "], full_name="  ")
    lead = Lead.model_validate({"phone": "+7 916 111-22-33; 8 916 111 22 44", "email": "a@b.ru"})
    assert lead.phones == ["+7 916 111-22-33", "8 916 111 22 44"]
    assert lead.emails == ["a@b.ru"]


def test_found_by_names_follow_the_blocking_rules():
    match = MatchConfig(extra_fields={"inn": ExtraFieldConfig(blocking=True)})
    columns = ("phones_block", "emails_block", "first_name", "last_name", "inn_block")
    lead = dict.fromkeys((*columns, *(block.column for block in NAME_BLOCKS)))

    assert list(_found_by_rules(lead, match.extra_fields)) == list(prediction_rules(match))


def test_without_a_run_the_check_says_to_run_first(tmp_path):
    config = load_config(sample_config_in(tmp_path))
    with pytest.raises(LeadCheckUnavailable, match=r"splink_model\.json not found.*dedup run"):
        LeadChecker.load(config)
    result = runner.invoke(
        cli_app, ["check-lead", "--config", str(tmp_path / "config.yaml"), "--phone", "1"]
    )
    assert result.exit_code == 2
    assert "splink_model.json not found" in result.output


def _without_timing(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "elapsed_ms"}


def test_the_http_endpoint_answers_as_the_checker_and_rejects_bad_bodies(
    checker, repeat, monkeypatch
):
    monkeypatch.delenv("DEDUP_LEAD_TOKEN", raising=False)
    expected = checker.check(Lead.model_validate(repeat["lead"])).model_dump(mode="json")
    app = create_app(checker.config, checker=checker, allow_anonymous=True)
    with TestClient(app) as client:
        response = client.post("/leads/check", json=repeat["lead"])
        assert response.status_code == 200
        assert _without_timing(response.json()) == _without_timing(expected)
        assert response.json()["matches"][0]["client_id"] == repeat["record"]["cluster_id"]

        response = client.post("/leads/check", json=NEW_PERSON)
        assert response.status_code == 200 and response.json()["matches"] == []

        response = client.post("/leads/check", json={"company": "ООО Ромашка"})
        assert response.status_code == 422
        assert "a lead needs at least a phone" in response.text
        response = client.post("/leads/check", json={"phones": ["+79161234567"], "fax": "1"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "fax"]
        response = client.post("/leads/check", json={"phones": 79161234567})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "phones"]
        response = client.post("/leads/check", content=b"{not json", headers=_JSON)
        assert response.status_code == 422
        response = client.post("/leads/check", json={"name": "Иван", "extra": {"inn": "77"}})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "extra"]
        assert "inn" in response.json()["detail"][0]["msg"]

        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["run_id"] == checker.run_id
        assert health.json()["records"] == checker.records


_JSON = {"content-type": "application/json"}


def test_the_endpoint_wants_the_bearer_token_when_one_is_set(checker, monkeypatch):
    monkeypatch.setenv("CRM_HOOK_SECRET", "s3cret-token")
    app = create_app(checker.config, checker=checker, token_env="CRM_HOOK_SECRET")
    with TestClient(app) as client:
        assert client.post("/leads/check", json=NEW_PERSON).status_code == 401
        wrong = {"Authorization": "Bearer s3cret-tokem"}
        assert client.post("/leads/check", json=NEW_PERSON, headers=wrong).status_code == 401
        basic = {"Authorization": "Basic s3cret-token"}
        assert client.post("/leads/check", json=NEW_PERSON, headers=basic).status_code == 401
        # No body is read before the token: a bad one is 401, not 422.
        assert client.post("/leads/check", json={}).status_code == 401
        right = {"Authorization": "Bearer s3cret-token"}
        response = client.post("/leads/check", json=NEW_PERSON, headers=right)
        assert response.status_code == 200 and response.json()["matches"] == []
        assert client.get("/health").status_code == 200


def test_without_a_token_the_server_refuses_to_start(checker, monkeypatch):
    monkeypatch.setenv("DEDUP_LEAD_TOKEN", "")
    with pytest.raises(LeadServerInsecureError, match=r"\$DEDUP_LEAD_TOKEN is not set"):
        create_app(checker.config, checker=checker)


def test_serve_leads_needs_a_token_or_no_auth_on_localhost(run, monkeypatch):
    from typer.testing import CliRunner

    from dedup_pipeline.cli import app

    config = run
    monkeypatch.delenv("DEDUP_LEAD_TOKEN", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["serve-leads", "--config", str(config)])
    assert result.exit_code == 2 and "DEDUP_LEAD_TOKEN is not set" in result.output
    result = runner.invoke(
        app, ["serve-leads", "--config", str(config), "--no-auth", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2 and "--no-auth serves client profiles" in result.output


def test_a_huge_body_is_refused_and_nothing_sent_comes_back(checker, monkeypatch):
    monkeypatch.setenv("DEDUP_LEAD_TOKEN", "s3cret-token")
    app = create_app(checker.config, checker=checker, max_body_bytes=10_000)
    right = {"Authorization": "Bearer s3cret-token", **_JSON}
    with TestClient(app) as client:
        huge = b'{"name": "' + b"A" * 50_000 + b'"}'
        assert client.post("/leads/check", content=huge, headers=right).status_code == 413

        def chunks():  # no Content-Length: the limit counts what streams in
            yield b'{"name": "'
            for _ in range(20):
                yield b"A" * 1_000
            yield b'"}'

        response = client.post("/leads/check", content=chunks(), headers=right)
        assert response.status_code == 413
        # A wrong body is named, not echoed.
        marker = "ECHO-ME-" * 500
        response = client.post(
            "/leads/check", json={"phones": [marker], "fax": marker}, headers=right
        )
        assert response.status_code == 422
        assert "ECHO-ME" not in response.text
        assert ["body", "fax"] in [error["loc"] for error in response.json()["detail"]]


def test_the_service_swaps_in_a_newer_run_only(checker):
    service = LeadService(checker.config, checker=checker)
    assert service.refresh() is False
    report = checker.config.output.directory / "run_report.json"
    stat = report.stat()
    os.utime(report, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert service.refresh() is True
    assert service.checker is not checker and service.checker is not None
    assert service.checker.run_id == checker.run_id
    service.stop()
    assert checker.check(Lead.model_validate(NEW_PERSON)).matches == []  # still open


def test_the_command_line_prints_the_answer_as_json(run, repeat):
    lead = repeat["lead"]
    result = runner.invoke(
        cli_app,
        ["check-lead", "--config", str(run), "--phone", lead["phone"], "--name", lead["name"]],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["matches"][0]["client_id"] == repeat["record"]["cluster_id"]
    assert answer["matches"][0]["label"] == "duplicate"

    result = runner.invoke(
        cli_app,
        ["check-lead", "--config", str(run), "--json", "-", "--compact"],
        input=json.dumps(NEW_PERSON, ensure_ascii=False),
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert json.loads(result.stdout)["matches"] == []

    result = runner.invoke(cli_app, ["check-lead", "--config", str(run), "--json", '{"city": "x"}'])
    assert result.exit_code == 2
    assert "a lead needs at least a phone" in result.output


def test_a_lead_with_first_and_last_name_but_no_full_name_gives_its_name_keys():
    from dedup_pipeline.leads.check import _name_keys

    lead = pl.DataFrame(
        {"first_name": ["Иван"], "last_name": ["Петров"], "full_name": [None]},
        schema={"first_name": pl.String, "last_name": pl.String, "full_name": pl.String},
    )
    assert _name_keys(lead) == ["ivan", "petrov"]
