"""The whole story against each emulated CRM: pull -> run -> push --apply leaves one card
per merged client with every phone, e-mail and deal of its duplicates; a dry run changes
nothing; a push that fails half-way ends, once re-run, where a clean push ends, without
merging anything twice."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from assets.run import run_full_sweep
from dedup_pipeline.config import PipelineConfig, load_config
from dedup_pipeline.crm import PushLedger, PushStatus, ledger_entries
from dedup_pipeline.crm.emulator.app import Bucket, CrmEmulator
from dedup_pipeline.crm.emulator.sample import sample_emulators
from dedup_pipeline.crm.emulator.server import EmulatorServer
from dedup_pipeline.crm.emulator.state import CrmState
from dedup_pipeline.crm.sync import pull_crm_sources, push_crm_sources
from dedup_pipeline.crm.values import email_key, phone_key
from dedup_pipeline.sinks.warehouse import read_table, table_directory

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("bitrix24", "amocrm", "hubspot")
LOSER_TAG = "merged-duplicate"
# Requests each failure test lets through before the CRM fails for good.
FAILING_WRITES = {
    "bitrix24": {"path": "batch", "skip": 40},  # reads (cards, notes), writes, tidying
    "amocrm": {"path": "/api/v4/leads/link", "skip": 1},
    "hubspot": {"path": "/merge", "skip": 20},
}


@dataclass
class Story:
    config: PipelineConfig
    emulators: dict[str, CrmEmulator]
    pristine: dict[str, CrmState]
    instructions: pl.DataFrame


def _config(directory: Path, urls: dict[str, str]) -> Path:
    sample = yaml.safe_load((ROOT / "configs/crm_demo.yaml").read_text(encoding="utf-8"))
    for source in sample["sources"]:
        if "crm" in source:
            kind = source["crm"]["kind"]
            source["path"] = str(directory / f"{kind}.jsonl")
            source["crm"]["url"] = urls[kind]
            source["crm"]["token_env"] = f"TEST_{kind.upper()}_TOKEN"
            # Fast, so the suite stays short; the real rates have their own tests.
            source["crm"]["rate_limit"] = {"calls": 1000, "period": 1.0}
            source["crm"]["attempts"] = 2
        else:
            source["path"] = str(ROOT / "data/sample" / Path(source["path"]).name)
    sample["warehouse"] = {
        "path": str(directory / "warehouse.duckdb"),
        "memory_limit": "2GB",
        "temp_directory": str(directory / "tmp"),
    }
    sample["output"] = {"directory": str(directory / "out")}
    path = directory / "crm.yaml"
    path.write_text(yaml.safe_dump(sample, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    directory = tmp_path_factory.mktemp("crm_flow")
    tokens = {kind: f"token-{kind}" for kind in KINDS}
    emulators = sample_emulators(load_config(ROOT / "configs/sample.yaml"), tokens=tokens)
    servers = []
    for emulator in emulators.values():
        emulator.bucket = Bucket(1_000_000, 1_000_000)
        servers.append(EmulatorServer(emulator).start())
    urls = {s.emulator.kind: s.url for s in servers}
    urls["bitrix24"] += "/rest/1"
    config_path = _config(directory, urls)
    with pytest.MonkeyPatch.context() as patch:
        for kind, token in tokens.items():
            patch.setenv(f"TEST_{kind.upper()}_TOKEN", token)
        config = load_config(config_path)
        seeded = {kind: copy.deepcopy(e.state) for kind, e in emulators.items()}
        # The run pulls each CRM, matches, and plans each push (a dry run).
        run_full_sweep(config_path)
        for source in config.sources:
            if source.crm is not None:
                kind = source.crm.kind.value
                assert pl.read_ndjson(source.path).height == len(seeded[kind].contacts)
                assert (config.output.directory / f"push_plan_{kind}.jsonl").is_file()
                assert _cards(emulators[kind].state) == _cards(seeded[kind])
        with duckdb.connect(str(config.warehouse.path)) as connection:
            directory_of_tables = table_directory(config.warehouse.path)
            instructions = read_table(
                connection, "merge_instructions", directory=directory_of_tables
            )
        pristine = {kind: copy.deepcopy(e.state) for kind, e in emulators.items()}
        yield Story(config, emulators, pristine, instructions)
    for server in servers:
        server.stop()


def _reset(story: Story, kind: str) -> CrmEmulator:
    emulator = story.emulators[kind]
    emulator.replace_state(copy.deepcopy(story.pristine[kind]))
    with duckdb.connect(str(story.config.warehouse.path)) as connection:
        PushLedger(connection)  # creates the table on first use
        connection.execute("delete from push_ledger where source = ?", [kind])
    return emulator


def _push(story: Story, kind: str, *, apply: bool = True):
    [report] = push_crm_sources(story.config, apply=apply, names=[kind])
    return report


def _live(state: CrmState) -> dict[int, object]:
    return {i: c for i, c in state.contacts.items() if LOSER_TAG not in c.tags}


def _cards(state: CrmState) -> dict:
    """What a user sees: live cards' names and sets of phones, e-mails; deals' contacts."""
    return {
        "contacts": {
            i: (c.first_name, c.last_name, frozenset(c.phones), frozenset(c.emails))
            for i, c in _live(state).items()
        },
        "deals": {i: frozenset(d.contact_ids) for i, d in state.deals.items()},
    }


@pytest.mark.parametrize("kind", KINDS)
def test_a_dry_run_changes_nothing(story, kind):
    emulator = _reset(story, kind)
    report = _push(story, kind, apply=False)
    assert report.planned and not report.applied
    assert _cards(emulator.state) == _cards(story.pristine[kind])
    assert emulator.state.merge_log == []
    entries = ledger_entries(story.config)
    assert entries.filter(pl.col("source") == kind).is_empty()


@pytest.mark.parametrize("kind", KINDS)
def test_push_leaves_one_card_per_client_holding_everything_its_duplicates_held(story, kind):
    emulator = _reset(story, kind)
    report = _push(story, kind)
    own = story.instructions.filter(pl.col("source") == kind)
    assert report.applied + report.nothing_to_change == own.height
    assert (report.conflicts, report.failed) == (0, 0)
    assert (own["action"] == "merge").sum() > 20

    before, after = story.pristine[kind], emulator.state
    answers = {
        row["instruction_id"]: row["answer"]
        for row in ledger_entries(story.config)
        .filter(pl.col("source") == kind)
        .iter_rows(named=True)
    }
    live = _live(after)
    for row in own.filter(pl.col("action") == "merge").iter_rows(named=True):
        ids = [int(i) for i in [row["survivor_record_id"], *row["merged_record_ids"]]]
        answer = pl.Series([answers[row["instruction_id"]]]).str.json_decode().item()
        survivor_id = int(answer["survivor_id"])
        # One card per client in this CRM: the survivor; the duplicates are gone.
        assert survivor_id in live
        assert not any(i in live for i in ids if i != survivor_id)
        survivor = live[survivor_id]
        had = [before.contacts[i] for i in ids]
        not_stored = (answer["crm"] or {}).get("not_stored", {}).get("phones", [])
        held = {phone_key(p, region="RU") for p in [*survivor.phones, *not_stored]}
        assert {phone_key(p, region="RU") for c in had for p in c.phones} <= held
        assert {email_key(e) for c in had for e in c.emails} <= {
            email_key(e) for e in survivor.emails
        }
        deals = {d.id for i in ids for d in before.deals_of(i)}
        assert deals <= {d.id for d in after.deals_of(survivor_id)}
    merged = [loser for _, losers in after.merge_log for loser in losers]
    assert len(merged) == len(set(merged))

    # The next pull drops what the push merged away.
    [pulled] = pull_crm_sources(story.config, names=[kind])
    assert pulled.mode == "incremental"
    assert pulled.total == len(live)

    # The CRM holds every instruction now: pushed again (ledger cleared), none sends a
    # request, but for golden addresses another HubSpot contact holds, which only
    # HubSpot's refusal reveals.
    taken = sum(
        bool(((json.loads(answer).get("crm") or {}).get("not_stored") or {}).get("emails"))
        for answer in answers.values()
    )
    merges = list(after.merge_log)
    with duckdb.connect(str(story.config.warehouse.path)) as connection:
        connection.execute("delete from push_ledger where source = ?", [kind])
    again = _push(story, kind)
    assert again.nothing_to_change == own.height - taken
    assert (again.failed, after.merge_log) == (0, merges)


def test_a_push_process_killed_mid_batch_under_429s_and_5xx_resumes_once(story):
    kind = "hubspot"
    emulator = _reset(story, kind)
    _push(story, kind)
    clean = _cards(emulator.state)
    emulator = _reset(story, kind)
    # Throttling and gateway errors along the way: each costs the client a backoff.
    for skip in (2, 5, 8, 11, 14):
        emulator.faults.inject("status", status=429, path="/merge", skip=skip)
    emulator.faults.inject("status", status=502, path="/batch", skip=1)
    config = story.config.warehouse.path.parent / "crm.yaml"
    command = [sys.executable, "-m", "dedup_pipeline.cli", "push", "-c", str(config)]
    command += ["--source", kind, "--apply", "--yes"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(emulator.state.merge_log) < 4 and process.poll() is None:
        assert time.monotonic() < deadline, "the push made no merges"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # no chance to tidy up
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the push ended before it was killed"
    done = len(emulator.state.merge_log)
    total = (story.instructions.filter(pl.col("source") == kind)["merged_record_ids"]).list.len()
    assert 4 <= done < total.sum()

    resumed = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    assert resumed.returncode == 0
    # Against the CRM's own state: every merge once, and the cards a clean push leaves.
    merged = [loser for _, losers in emulator.state.merge_log for loser in losers]
    assert len(merged) == len(set(merged)) == total.sum()
    assert _cards(emulator.state) == clean


@pytest.mark.parametrize("kind", KINDS)
def test_a_push_failing_half_way_resumes_to_where_a_clean_push_ends(story, kind):
    emulator = _reset(story, kind)
    _push(story, kind)
    clean = _cards(emulator.state)
    clean_merges = sorted(emulator.state.merge_log)

    emulator = _reset(story, kind)
    emulator.faults.inject("status", status=500, count=10_000, **FAILING_WRITES[kind])
    stopped = _push(story, kind)
    assert stopped.stopped is not None
    assert 0 < stopped.applied < stopped.instructions
    emulator.faults.clear()
    resumed = _push(story, kind)
    assert resumed.failed == 0
    assert resumed.settled == stopped.applied + stopped.nothing_to_change
    assert _cards(emulator.state) == clean
    assert sorted(emulator.state.merge_log) == clean_merges  # nothing merged twice
    statuses = ledger_entries(story.config).filter(pl.col("source") == kind)["status"]
    assert set(statuses) == {PushStatus.APPLIED}


def test_the_push_command_is_a_dry_run_unless_told_to_apply(story):
    from typer.testing import CliRunner

    from dedup_pipeline.cli import app

    emulator = _reset(story, "bitrix24")
    config = story.config.sources[0].path.parent / "crm.yaml"
    result = CliRunner().invoke(app, ["push", "--config", str(config), "--source", "bitrix24"])
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing sent" in result.output
    plan = story.config.output.directory / "push_plan_bitrix24.jsonl"
    lines = [json.loads(line) for line in plan.read_text(encoding="utf-8").splitlines()]
    # One line per instruction with something to change, listing the requests.
    assert 0 < len(lines) <= (story.instructions["source"] == "bitrix24").sum()
    assert all(line["requests"] for line in lines)
    assert _cards(emulator.state) == _cards(story.pristine["bitrix24"])

    # A Bitrix24 merge is final: the push says so and waits for --yes.
    refused = CliRunner().invoke(
        app, ["push", "--config", str(config), "--source", "bitrix24", "--apply"]
    )
    assert refused.exit_code == 2 and "final" in refused.output
    assert not emulator.state.merge_log
    result = CliRunner().invoke(
        app, ["push", "--config", str(config), "--source", "bitrix24", "--apply", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert len(emulator.state.merge_log) > 20


def test_undo_from_the_command_line_brings_every_merged_card_back(story):
    from typer.testing import CliRunner

    from dedup_pipeline.cli import app

    kind = "bitrix24"
    emulator = _reset(story, kind)
    config = story.config.sources[0].path.parent / "crm.yaml"
    pushed = CliRunner().invoke(
        app, ["push", "-c", str(config), "--source", kind, "--apply", "--yes"]
    )
    assert pushed.exit_code == 0, pushed.output
    run = pushed.output.split("push run: bitrix24 ")[1].split()[0]
    undo = ["push", "undo", "-c", str(config), "--source", kind, "--run", run]
    plan = CliRunner().invoke(app, undo)
    assert plan.exit_code == 0 and "Dry run" in plan.output, plan.output
    assert CliRunner().invoke(app, [*undo, "--apply"]).exit_code == 2  # final: needs --yes
    result = CliRunner().invoke(app, [*undo, "--apply", "--yes"])
    assert result.exit_code == 0, result.output
    assert "not restored" in result.output

    # Every card of before is there again (new ids for the merged ones), values and all.
    def seen(state: CrmState) -> list:
        cards = _cards(state)["contacts"].values()
        return sorted(((c[0], c[1], sorted(c[2]), sorted(c[3])) for c in cards), key=repr)

    assert seen(emulator.state) == seen(story.pristine[kind])


def test_the_demo_says_so_when_an_emulator_port_is_taken(tmp_path):
    import socket

    from typer.testing import CliRunner

    from dedup_pipeline.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        urls = {kind: f"http://127.0.0.1:{port}" for kind in KINDS}
        config = _config(tmp_path, urls)
        result = CliRunner().invoke(app, ["crm-demo", "--config", str(config)])
    assert result.exit_code == 1
    assert f"cannot serve the bitrix24 emulator on 127.0.0.1:{port}" in result.output
    assert "is `dedup crm-emulator` running already?" in result.output
