"""Debian's Chromium for the browser tests (`make browser-deps`, which `make test` runs).

Playwright drives it through its executable path, so nothing is downloaded.
"""

import os
import shutil

import pytest

__all__ = ["CHROMIUM_ARGS", "chromium_path"]

CHROMIUM_ARGS = [
    "--no-sandbox",  # the test may run as root
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The Chromium executable; skips with DEDUP_SKIP_BROWSER, else fails, when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("DEDUP_SKIP_BROWSER"):
            pytest.skip("DEDUP_SKIP_BROWSER is set and Chromium is not installed")
        pytest.fail("Chromium is not installed: run `make browser-deps` (make test does)")
    return found
