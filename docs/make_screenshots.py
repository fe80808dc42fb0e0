"""Regenerate the README's screenshots of the review app (needs `make browser-deps`).

    .venv/bin/python docs/make_screenshots.py

Runs the sample into a temporary directory, starts the review app with a throwaway
reviewer, and saves the queue and one proposal page as PNG files in docs/images/.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.run import run_full_sweep  # noqa: E402
from dedup_pipeline.config import load_config  # noqa: E402
from dedup_pipeline.review import DecisionStore  # noqa: E402
from dedup_pipeline.review.web import create_app  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8")
        text = text.replace("../data/sample/", f"{ROOT / 'data' / 'sample'}/").replace(
            "../output/sample", f"{tmp}/out"
        )
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(text, encoding="utf-8")
        run_full_sweep(config_path)
        config = load_config(config_path)
        with DecisionStore(config.review.url) as store:
            store.add_user("anna", "screenshot")
        server = uvicorn.Server(
            uvicorn.Config(create_app(config, secret_key="docs"), port=8766, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = "http://127.0.0.1:8766"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(base + "/login")
            page.fill("input[name=username]", "anna")
            page.fill("input[name=password]", "screenshot")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            page.screenshot(path=str(images / "review_queue.png"))
            page.locator("table a[href^='/proposals/']").first.click()
            page.wait_for_load_state()
            page.screenshot(path=str(images / "review_proposal.png"), full_page=True)
            browser.close()
        server.should_exit = True
    print(f"written: {images / 'review_queue.png'}, {images / 'review_proposal.png'}")


if __name__ == "__main__":
    main()
