"""Vega-Lite charts in self-contained HTML: the JavaScript inlined, nothing fetched.

Splink ships the vega, vega-lite and vega-embed JavaScript bundles it uses for its offline
dashboards (``splink/internals/files/external_js/``). A page that inlines them (see
`inline_scripts`) and hands ``vegaEmbed`` a specification written by `script_json` draws
its charts with the network off, and depends only on the specification: writing it twice
gives the same bytes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["LIBRARIES", "inline_scripts", "library_sources", "script_json"]

#: Splink's bundled JavaScript, in load order (vega-lite needs vega, vega-embed both).
LIBRARIES: tuple[str, ...] = ("vega", "vega-lite", "vega-embed")
_BUNDLED_JS = "internals/files/external_js"


@cache
def library_sources() -> tuple[str, ...]:
    """Source of each bundled library of `LIBRARIES`, as shipped with Splink.

    Returns
    -------
    tuple[str, ...]
        The JavaScript of vega, vega-lite and vega-embed, in that order (the newest
        version of each that Splink ships).

    Raises
    ------
    FileNotFoundError
        When the installed Splink does not ship one of the bundles.
    ValueError
        When a bundle holds ``</script``, so it cannot be inlined in a ``<script>``
        element.
    """
    folder = resources.files("splink").joinpath(_BUNDLED_JS)
    names = sorted(entry.name for entry in folder.iterdir())
    sources = []
    for library in LIBRARIES:
        matches = [name for name in names if name.startswith(f"{library}@")]
        if not matches:
            raise FileNotFoundError(f"Splink ships no {library} bundle in {_BUNDLED_JS}")
        newest = max(matches, key=_version_key)
        source = folder.joinpath(newest).read_text(encoding="utf-8")
        if "</script" in source.lower():
            raise ValueError(f"{newest} cannot be inlined in a <script> element")
        sources.append(source)
    return tuple(sources)


def inline_scripts() -> str:
    """The bundles of `library_sources` as ``<script>`` elements, one per line."""
    return "\n".join(f"<script>{source}</script>" for source in library_sources())


def _version_key(file_name: str) -> tuple[int, ...]:
    """``(5, 31, 0)`` for ``"vega@5.31.0"``; parts that are not numbers count as 0."""
    version = file_name.partition("@")[2]
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def script_json(value: Any) -> str:
    """JSON for a ``<script>`` element, with no character that could end the element.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e`` and ``\\u0026``, so a
    value such as ``"</script><script>..."`` stays a string. Decimals become floats;
    non-ASCII text is kept as it is (the page is UTF-8).
    """
    return (
        json.dumps(value, default=_json_default, ensure_ascii=False)
        .replace("<", r"\u003c")
        .replace(">", r"\u003e")
        .replace("&", r"\u0026")
    )
