"""PHP-style query strings (``fields[PHONE][0][VALUE]=...``), as Bitrix24's ``batch``
commands and form requests carry nested parameters."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote

__all__ = ["build_query", "parse_query"]


def _pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _pairs(f"{prefix}[{key}]", item)]
    if isinstance(value, list | tuple):
        return [pair for i, item in enumerate(value) for pair in _pairs(f"{prefix}[{i}]", item)]
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "Y" if value else "N")]
    return [(prefix, str(value))]


def build_query(params: dict[str, Any]) -> str:
    """Encode nested parameters as PHP's ``http_build_query`` does."""
    pairs = [pair for key, value in params.items() for pair in _pairs(key, value)]
    return "&".join(f"{quote(key, safe='[]')}={quote(value, safe='')}" for key, value in pairs)


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def parse_query(query: str) -> dict[str, Any]:
    """Decode a PHP-style query string into nested dicts and lists (``a[]`` appends;
    a level whose keys are all numbers becomes a list)."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(query, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if match is None:
            root[raw_key] = value
            continue
        keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for position, key in enumerate(keys):
            last = position == len(keys) - 1
            if key == "":
                key = str(len(node))
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
    return _listify(root)
