"""Why two records matched, in words: each comparison's level and what it weighed.

A scored pair carries one match weight per comparison (``mw_<comparison>``, plus
``mw_tf_adj_<comparison>`` where the level weighs by how common the value is). The run's
model (``splink_model.json``) says which level has which weight, so each weight is read
back as its level: "A personal phone in common +18.8", "first name and last name alike
+9.1". Levels Splink labelled by their SQL ("Jaro-Winkler distance of first_name >=
0.92") are put in words here, from the same label grammar, so a model with extra fields
reads as well as the built-in one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "COMPARISON_HEADERS",
    "LevelReader",
    "PairLevel",
    "describe_level",
    "read_levels",
]

#: Column headers of the built-in comparisons; others show their name in words.
COMPARISON_HEADERS: dict[str, str] = {
    "first_name_last_name": "Name",
    "middle_name": "Patronymic",
    "phones": "Phones",
    "emails": "E-mails",
    "company": "Company",
    "city": "City",
}

# How columns Splink names in its labels read.
_COLUMN_WORDS: dict[str, str] = {
    "first_name": "first name",
    "last_name": "last name",
    "middle_name": "patronymic",
    "middle_initial": "patronymic",
    "company_evidence": "company",
    "name_pair": "full name",
}

# Two weights closer than this are the same level (weights are stored as doubles).
_SAME_WEIGHT = 1e-6


def _words(column: str) -> str:
    column = column.strip().strip('"')
    return _COLUMN_WORDS.get(column, column.replace("_", " "))


def _clause(text: str) -> str | None:
    """One clause of a Splink label in words, or None when it is not Splink's grammar."""
    # The parentheses Splink puts around each clause of an AND, not those of the clause.
    text = text.strip().removeprefix("(")
    if text.count(")") > text.count("("):
        text = text.removesuffix(")")
    text = text.strip()

    if match := re.fullmatch(r"(\w+) is NULL", text):
        return f"{_words(match[1])} missing"
    if match := re.fullmatch(r"Exact match on (\w+)", text):
        return f"same {_words(match[1])}"
    if match := re.fullmatch(r"Exact match on (\w+) and (\w+)", text):
        return f"same {_words(match[1])} and {_words(match[2])}"
    if match := re.fullmatch(
        r"Match on reversed cols: (\w+) and (\w+)(?: \(both directions\))?", text
    ):
        return f"{_words(match[1])} and {_words(match[2])} swapped"
    if match := re.fullmatch(r"Jaro-Winkler distance of (\w+) >= ([0-9.]+)", text):
        closeness = "alike" if float(match[2]) >= 0.9 else "roughly alike"
        return f"{_words(match[1])} {closeness}"
    if match := re.fullmatch(r"(?:Damerau-)?Levenshtein distance of (\w+) <= (\d+)", text):
        typos = "typo" if match[2] == "1" else "typos"
        return f"{_words(match[1])} within {match[2]} {typos}"
    if match := re.fullmatch(r"Array intersection size >= 1 of (\w+)", text):
        return f"a {_words(match[1])} in common"
    return None


def describe_level(label: str) -> str:
    """A comparison level's label in words.

    Labels written for people ("A personal phone in common") are kept; Splink's
    generated ones are translated clause by clause ("(Jaro-Winkler distance of first_name
    >= 0.92) AND (Jaro-Winkler distance of last_name >= 0.92)" -> "first name alike, last
    name alike").
    """
    if label == "All other comparisons":
        return "different"
    clauses = [_clause(part) for part in re.split(r"\)\s+AND\s+\(", label)]
    if all(clauses) and clauses:
        words = ", ".join(clause for clause in clauses if clause)
        # "first name alike, last name alike" -> "first name and last name alike"
        if match := re.fullmatch(r"(.+?) (roughly alike|alike|missing), (.+) \2", words):
            return f"{match[1]} and {match[3]} {match[2]}"
        return words
    return label


@dataclass(frozen=True)
class PairLevel:
    """One comparison of a scored pair: its level in words and what it weighed (bits,
    the term-frequency adjustment included)."""

    label: str
    weight: float | None


def _level_weight(level: Mapping[str, Any]) -> float | None:
    if level.get("is_null_level"):
        return 0.0
    m, u = level.get("m_probability"), level.get("u_probability")
    if not m or not u:
        return None
    return math.log2(m / u)


@dataclass(frozen=True)
class LevelReader:
    """Reads a pair's ``mw_*`` weights back as comparison levels of one model."""

    levels: dict[str, list[tuple[float, str]]]

    def headers(self, weight_columns: list[str]) -> list[tuple[str, str]]:
        """(comparison, header) of every comparison with a ``mw_`` column, in order."""
        names = [
            column.removeprefix("mw_")
            for column in weight_columns
            if not column.startswith("mw_tf_adj_")
        ]
        return [(name, COMPARISON_HEADERS.get(name, _words(name).capitalize())) for name in names]

    def read(self, comparison: str, pair: Mapping[str, Any]) -> PairLevel:
        """The level of ``comparison`` that ``pair``'s weight belongs to."""
        weight = pair.get(f"mw_{comparison}")
        adjustment = pair.get(f"mw_tf_adj_{comparison}") or 0.0
        if weight is None:
            return PairLevel("", None)
        label = next(
            (
                text
                for level_weight, text in self.levels.get(comparison, [])
                if abs(level_weight - weight) <= _SAME_WEIGHT * max(1.0, abs(weight))
            ),
            "",
        )
        return PairLevel(label, weight + adjustment)


def read_levels(model_path: Path) -> LevelReader:
    """The levels of the model a run saved (none when the file is missing or unreadable:
    the table then shows weights without words)."""
    try:
        model = json.loads(model_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return LevelReader({})
    levels: dict[str, list[tuple[float, str]]] = {}
    for comparison in model.get("comparisons", []):
        name = comparison.get("output_column_name", "")
        for level in comparison.get("comparison_levels", []):
            weight = _level_weight(level)
            if weight is None:
                continue
            label = (
                "missing"
                if level.get("is_null_level")
                else describe_level(level.get("label_for_charts") or level.get("sql_condition", ""))
            )
            levels.setdefault(name, []).append((weight, label))
    return LevelReader(levels)
