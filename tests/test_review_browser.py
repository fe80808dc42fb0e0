"""A reviewer in real Chromium: log in, approve one proposal, reject another, re-run.

Chromium is Debian's (`make browser-deps`, which `make test` runs); Playwright drives it
through its executable path, so nothing is downloaded.
"""

import socket
import threading
import time
from pathlib import Path

import polars as pl
import pytest
import uvicorn

from assets.run import run_full_sweep
from dedup_pipeline.config import load_config
from dedup_pipeline.review import DecisionStore
from dedup_pipeline.review.web import create_app
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.conftest import sample_config_in, warehouse_tables

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tables(config_path: Path) -> dict[str, pl.DataFrame]:
    return warehouse_tables(config_path, "clusters", "merge_instructions")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    chromium = chromium_path()
    config_path = sample_config_in(tmp_path_factory.mktemp("browser"))
    run_full_sweep(config_path)
    config = load_config(config_path)
    with DecisionStore(config.review.url) as store:
        store.add_user("alice", "correct horse battery")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, secret_key="browser-test"), port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield config_path, f"http://127.0.0.1:{port}", chromium
    server.should_exit = True
    thread.join(timeout=10)


def _scored_pairs_within(config_path: Path, review_cluster_id: str) -> float:
    """The weakest scored pair between two client clusters of a proposal (inside its one
    cluster for a proposal of a single held-back cluster)."""
    tables = warehouse_tables(config_path, "clusters", "scored_pairs")
    members = tables["clusters"].filter(pl.col("review_cluster_id") == review_cluster_id)
    ends = members.select("record_id", "cluster_id")
    crossing = (
        tables["scored_pairs"]
        .join(ends, left_on="record_id_l", right_on="record_id")
        .join(ends, left_on="record_id_r", right_on="record_id", suffix="_r")
    )
    between = crossing.filter(pl.col("cluster_id") != pl.col("cluster_id_r"))
    return (between if between.height else crossing).get_column("match_probability").min()


def _record_ids(page) -> list[str]:

    return sorted(
        page.locator("input[name=record_id]").evaluate_all("els => els.map(e => e.value)")
    )


def test_a_reviewer_approves_and_rejects_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    config_path, base, chromium = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        assert "/login" in page.url
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")

        # Sorted by weakest link, the least certain proposal comes first: a proposal's
        # figure is the weakest pair it would merge, read from the run's scored pairs.
        page.select_option("select[name=sort]", label="weakest link")
        page.click("form.filter button[type=submit]")
        page.wait_for_url("**sort=confidence**")
        assert page.locator("#queue thead").inner_text().count("Weakest link") == 1
        shown = [
            float(text)
            for text in page.locator("#queue td.weakest-link").all_inner_texts()
            if text.strip()
        ]
        assert len(shown) > 1 and shown == sorted(shown)
        first_id = page.locator("#queue tbody tr").first.locator("a").inner_text()
        pairs = _scored_pairs_within(config_path, first_id)
        assert shown[0] == pytest.approx(pairs, abs=5e-4)
        page.goto(base + "/")

        # A proposal with a Bitrix24 card, so that the approval must reach a CRM.
        page.fill("#search", "bitrix24")
        page.press("#search", "Enter")
        page.wait_for_load_state()
        first_link = page.locator("table a[href^='/proposals/']").first
        first_href = first_link.get_attribute("href")
        first_link.click()
        page.wait_for_url(base + first_href.split("?")[0] + "*")
        approved = _record_ids(page)
        page.screenshot(path=str(tmp_path / "proposal.png"), full_page=True)
        page.click("#approve")
        page.wait_for_load_state()
        assert page.url != base + first_href

        page.goto(base + "/")
        links = page.locator("table a[href^='/proposals/']")
        hrefs = links.evaluate_all("els => els.map(e => e.getAttribute('href'))")
        paths = [href.split("?")[0] for href in hrefs]
        assert first_href.split("?")[0] not in paths  # approved: gone from the queue
        assert len(paths) > 0
        page.goto(base + hrefs[0])
        rejected = _record_ids(page)
        page.click("#reject")
        page.wait_for_load_state()
        browser.close()

    with DecisionStore(load_config(config_path).review.url) as store:
        decided = store.decisions()
    assert set(decided.get_column("reviewer")) == {"alice"}
    assert sorted(decided.get_column("action")) == ["approve", "reject"]

    run_full_sweep(config_path)
    tables = _tables(config_path)
    clusters = tables["clusters"]
    together = clusters.filter(pl.col("record_id").is_in(approved))
    assert together.get_column("cluster_id").n_unique() == 1
    assert set(together.get_column("outcome")) == {"approved"}
    apart = clusters.filter(pl.col("record_id").is_in(rejected))
    assert apart.get_column("cluster_id").n_unique() == len(rejected)
    # The approval reaches the CRMs in the next run's merge instructions.
    assert any(r.startswith("bitrix24:") for r in approved)
    instructions = tables["merge_instructions"].filter(pl.col("outcome") == "approved")
    merged = instructions.explode("cluster_record_ids").get_column("cluster_record_ids")
    assert set(approved) <= set(merged)
