"""The data-health report: one self-contained HTML page, drawn offline by real Chromium.

Chromium is Debian's (`make browser-deps`, which `make test` runs); Playwright drives it
through its executable path, so nothing is downloaded.
"""

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from dedup_pipeline.health import DataHealth, data_health
from dedup_pipeline.health_report import render_health_report, write_health_report
from tests.browser import CHROMIUM_ARGS, chromium_path

_LIST = pl.List(pl.String)
#: A source whose name is markup: the page must show it, never run it.
EVIL = "<script>window.pwned = 1</script>"
SHOP = "магазин"
GENERATED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _health(*, quarantined: bool = True, flagged: bool = True) -> DataHealth:
    rows = [
        # record, source, first, last, phones, invalid phones, e-mails, invalid e-mails
        ("crm:1", "crm", "Анна", "Ли", ["8 912 1"], ["8 912 1"], ["a@x.ru"], []),
        ("crm:2", "crm", "Анна", None, ["+79120000000"], [], [], []),
        ("crm:3", "crm", None, "", [], [], ["bad@"], ["bad@"]),
        (f"{SHOP}:1", SHOP, None, None, ["+79120000000"], [], ["a@x.ru"], []),
        ("evil:1", EVIL, "Ева", None, [], [], [], []),
    ]
    columns = ["record_id", "source", "first_name", "last_name", "phones", "phones_invalid"]
    columns += ["emails", "emails_invalid"]
    contacts = (
        pl.DataFrame(rows, schema=columns, orient="row")
        .with_columns(
            full_name=pl.lit(None, pl.String),
            company=pl.lit(None, pl.String),
            city=pl.lit("Пермь"),
        )
        .cast({c: _LIST for c in ("phones", "phones_invalid", "emails", "emails_invalid")})
    )
    clusters = pl.DataFrame(
        {
            "record_id": ["crm:1", "crm:2", "crm:3", f"{SHOP}:1", "evil:1"],
            "cluster_id": ["A", "B", "C", "A", "E"],
            "cluster_size": [2, 1, 1, 2, 1],
            "outcome": ["auto_merge", "review", "unique", "auto_merge", "flagged"],
            # One proposal: crm:2 with the auto-merged client A.
            "review_cluster_id": ["R1", "R1", None, "R1", None],
        }
    )
    quarantine = pl.DataFrame(
        {
            "source": [SHOP, SHOP, "crm"] if quarantined else [],
            "reason": ["нет идентификатора", "нет идентификатора", "<b>bad</b> row"]
            if quarantined
            else [],
        },
        schema={"source": pl.String, "reason": pl.String},
    )
    flags = pl.DataFrame(
        {
            "record_id": ["evil:1", "crm:3"] if flagged else [],
            "source": [EVIL, "crm"] if flagged else [],
            "reasons": [["blacklisted_source", "junk"], ["junk"]] if flagged else [],
        },
        schema={"record_id": pl.String, "source": pl.String, "reasons": _LIST},
    )
    health = data_health(contacts=contacts, clusters=clusters, quarantine=quarantine, flagged=flags)
    # Sizes past 10 records per client share a bar.
    sizes = pl.DataFrame(
        {"records_per_client": [1, 2, 25, 40], "clients": [3, 1, 1, 1]},
        schema={"records_per_client": pl.UInt32, "clients": pl.UInt32},
    )
    return dataclasses.replace(health, cluster_sizes=sizes)


def _write(path: Path, health: DataHealth) -> Path:
    return write_health_report(
        health,
        path,
        title="Data health <sample>",
        generated_at=GENERATED,
        run_mode="full",
        run_id="run-1",
    )


def test_report_shows_sources_figures_and_escapes(tmp_path: Path) -> None:
    path = _write(tmp_path / "nested" / "health_report.html", _health())

    assert path == tmp_path / "nested" / "health_report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    # Every source, Cyrillic as it is, and the markup-like one as text.
    for source in ("crm", SHOP, "all sources"):
        assert f"<td>{source}</td>" in page
    assert EVIL not in page
    assert "<td>&lt;script&gt;window.pwned = 1&lt;/script&gt;</td>" in page
    assert "<b>bad</b>" not in page
    assert "&lt;b&gt;bad&lt;/b&gt; row" in page
    assert "<title>Data health &lt;sample&gt;</title>" in page
    # Headline figures: 8 rows read, 5 records, 3 quarantined, 2 flagged, 4 clients.
    cards = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)<', page))
    assert cards["Rows read"] == "8"
    assert cards["Records"] == "5"
    assert cards["Quarantined rows"] == "3"
    assert cards["Flagged records"] == "2"
    assert cards["Clients"] == "6"  # from cluster_sizes: 3 + 1 + 1 + 1
    assert cards["Duplicate share"] == "40.0%"
    assert cards["Invalid phones"] == "33.3%"  # 1 of 3 written
    assert cards["Invalid e-mails"] == "33.3%"
    # Per-source figures: crm read 4 rows, kept 3, 1 quarantined, 1 flagged.
    assert re.search(
        r"<td>crm</td><td class=\"num\">4</td><td class=\"num\">3</td>"
        r"<td class=\"num\">1</td><td class=\"num\">1</td>",
        page,
    )
    assert "Пермь" not in page  # values themselves are not shown, only their shares
    assert "нет идентификатора" in page
    assert "blacklisted source" in page and "junk" in page
    assert "21\N{EN DASH}50" in page  # 25 and 40 records per client share a bar
    assert "auto-merged" in page and "in a review proposal" in page and "flagged" in page
    # The one "to review" figure: proposals and the records in them, as the run report.
    assert "To review: 1 proposal holding 3 records" in page

    # Self-contained: nothing loaded from anywhere.
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"<link\b", page, re.IGNORECASE)
    tags = re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)
    assert tags and all("src" not in tag.lower() for tag in tags)
    assert "@import" not in page and "@font-face" not in page
    assert 'http-equiv="Content-Security-Policy"' in page
    for chart in ("completeness", "invalid", "duplicates", "cluster-sizes", "outcomes"):
        assert f'id="chart-{chart}"' in page
    assert 'id="chart-quarantine-reasons"' in page
    assert 'id="chart-flag-reasons"' in page


def test_report_is_deterministic(tmp_path: Path) -> None:
    health = _health()
    first = _write(tmp_path / "a.html", health).read_bytes()
    second = _write(tmp_path / "b.html", _health()).read_bytes()
    assert first == second
    rendered = render_health_report(
        health,
        title="Data health <sample>",
        generated_at=GENERATED,
        run_mode="full",
        run_id="run-1",
    )
    assert rendered.encode("utf-8") == first


def test_no_quarantine_and_no_flags_say_none(tmp_path: Path) -> None:
    page = _write(tmp_path / "clean.html", _health(quarantined=False, flagged=False)).read_text(
        encoding="utf-8"
    )
    assert "No row was quarantined." in page
    assert "No record was flagged." in page
    assert 'id="chart-quarantine-reasons"' not in page
    assert 'id="chart-flag-reasons"' not in page


def test_top_limits_the_reasons(tmp_path: Path) -> None:
    health = _health()
    page = render_health_report(health, title="t", generated_at=GENERATED, top=1)
    # Quarantine: the Cyrillic reason (2 rows) is listed, the other one is summed up.
    assert "нет идентификатора" in page
    assert "&lt;b&gt;bad&lt;/b&gt; row" not in page
    assert "and 1 more (source, reason) pairs with 1 rows." in page
    with pytest.raises(ValueError, match="top"):
        render_health_report(health, title="t", generated_at=GENERATED, top=0)


def _watch(page, errors: list[str], requests: list[str]) -> None:
    """Collect the page's console errors; abort and collect every request but file://."""

    def on_console(message) -> None:
        if message.type == "error":
            errors.append(message.text)

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            requests.append(url)
            request_route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/*", route)


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path()


def test_report_renders_offline_in_chromium(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    reports = {
        "full": (_write(tmp_path / "full.html", _health()), 7),
        "clean": (_write(tmp_path / "clean.html", _health(quarantined=False, flagged=False)), 5),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for name, (path, charts) in reports.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                requests: list[str] = []
                _watch(page, errors, requests)
                page.goto(path.as_uri(), wait_until="load", timeout=30_000)
                containers = page.locator("div.chart")
                assert containers.count() == charts, name
                page.wait_for_function(
                    """() => Array.from(document.querySelectorAll('div.chart')).every(
                        (el) => el.querySelector('svg, canvas') !== null
                            || el.classList.contains('chart-error'))""",
                    timeout=20_000,
                )
                drawn = containers.evaluate_all(
                    "els => els.map(el => [el.id, el.querySelector('svg, canvas') !== null])"
                )
                assert all(ok for _, ok in drawn), drawn
                assert page.locator(".chart-error").count() == 0
                assert errors == [], errors
                assert requests == [], requests
                assert page.evaluate("() => window.pwned") is None
                text = page.inner_text("body")
                assert SHOP in text
                assert EVIL in text  # shown as text
                # The heatmap draws its shares: crm's first name is filled in 2 of 3.
                heatmap = page.inner_text("#chart-completeness") or ""
                svg_text = page.locator("#chart-completeness svg text").all_text_contents()
                assert "67%" in svg_text or "67%" in heatmap
                page.close()
        finally:
            browser.close()
