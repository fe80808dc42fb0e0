"""Vectorised clean-up of names, companies and cities."""

from __future__ import annotations

import polars as pl

__all__ = [
    "CYRILLIC_TO_LATIN",
    "normalize_company",
    "normalize_name",
    "normalize_text",
    "transliterate_name",
]


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


#: Russian letters in a practical romanisation (close to what CRMs and passports use).
CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip

# Spellings that romanisation schemes disagree on, folded to one form on both sides
# ("Iuliia" / "Yulia" / "Юлия", "Aleksei" / "Alexey" / "Алексей", "Mikhail" / "Mihail").
_LATIN_FOLDS = (
    ("x", "ks"),
    ("j", "y"),
    ("iu", "yu"),
    ("ia", "ya"),
    ("kh", "h"),
    ("ey", "ei"),
    ("yy", "y"),
    ("iy", "i"),
    ("ii", "i"),
)

# "Artyom", "Fyodor", "Lyosha" spell the Russian "ё" that "Артём" folds to "е".
_YO_AFTER_CONSONANT = (r"([bcdfghklmnprstvz])yo", "${1}e")

# "Nikolay" / "Nikolai", "Tolstoy" / "Tolstoi": a "й" closing a syllable ("ey" folds above).
_Y_CLOSING_A_SYLLABLE = (r"([aou])y([^aeiouy]|$)", "${1}i${2}")


def transliterate_name(name: pl.Expr) -> pl.Expr:
    """A script-independent key of a normalised name, for comparing across alphabets.

    Cyrillic is romanised and spelling variants of romanisations are folded, so "юлия",
    "yulia" and "iuliia" give close keys ("yuliya", "yulia", "yuliya").
    """
    key = name.str.replace_many(CYRILLIC_TO_LATIN)
    for old, new in _LATIN_FOLDS:
        key = key.str.replace_all(old, new, literal=True)
    return key.str.replace_all(*_YO_AFTER_CONSONANT).str.replace_all(*_Y_CLOSING_A_SYLLABLE)
