"""Save a full-page screenshot of a local HTML file, rendered by Debian's Chromium offline.

    .venv/bin/python scripts/screenshot_html.py output/sample/health_report.html \\
        docs/notes/health_report.png [--width 1280]

Chromium is Debian's (`make browser-deps`); Playwright drives it through its executable
path, so nothing is downloaded. Every request other than a ``file://`` one is aborted, so
the screenshot shows what the page looks like with the network off. Charts (elements of
class ``chart``, as the health report writes them) are awaited until each holds an SVG or
a canvas, or says why it could not be drawn.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # may run as root
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('.chart')).every(
    (el) => el.querySelector('svg, canvas') !== null || el.classList.contains('chart-error'))"""


def screenshot(html: Path, png: Path, *, width: int = 1280, timeout_s: float = 30.0) -> list[str]:
    """Render `html` offline and save a full-page PNG of it.

    Parameters
    ----------
    html
        The page, a local file.
    png
        Where the screenshot goes; its directory is created if missing.
    width
        The viewport's width in CSS pixels (the screenshot's width).
    timeout_s
        How long to wait for the page and its charts.

    Returns
    -------
    list[str]
        The page's console errors and the requests it tried to make outside ``file://``
        (none for a self-contained page).
    """
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise SystemExit("Chromium is not installed: run `make browser-deps`")
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            problems.append(f"blocked request: {url}")
            request_route.abort()

    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.route("**/*", route)
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_function(_CHARTS_DRAWN, timeout=timeout_s * 1000)
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the HTML file to render")
    parser.add_argument("png", type=Path, help="where to save the screenshot")
    parser.add_argument("--width", type=int, default=1280, help="viewport width (default 1280)")
    args = parser.parse_args(argv)
    if not args.html.is_file():
        parser.error(f"{args.html} is not a file")
    problems = screenshot(args.html, args.png, width=args.width)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"wrote {args.png}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
