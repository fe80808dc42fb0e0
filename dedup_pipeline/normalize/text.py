"""Vectorised clean-up of names, companies and cities."""

from __future__ import annotations

import polars as pl

__all__ = ["normalize_company", "normalize_name", "normalize_text"]


def normalize_text(text: pl.Expr) -> pl.Expr:
    """Trim, collapse whitespace and case-fold; empty results become null.

    "ё" folds to "е" because Russian writers use them interchangeably.
    """
    folded = (
        text.str.to_lowercase()
        .str.replace_all("ё", "е", literal=True)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(folded.str.len_chars() > 0).then(folded).otherwise(None)


def normalize_name(text: pl.Expr) -> pl.Expr:
    """Normalise a personal name: punctuation other than hyphens and apostrophes is dropped."""
    return normalize_text(text.str.replace_all(r"[^\p{L}\p{M}\s'\-]", " "))


def normalize_company(text: pl.Expr) -> pl.Expr:
    """Normalise a company name: quotes of every style are dropped, the words are kept."""
    return normalize_text(text.str.replace_all(r"[\"'«»“”„`]", " "))
