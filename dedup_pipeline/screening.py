"""Screen contacts before they merge: blacklisted values and junk records are flagged.

A flagged record stays in the run (every record is accounted for) but is kept out of every
merge and review proposal: the decide stage gives it a cluster of its own with outcome
``flagged`` (`dedup_pipeline.review.decide`). Reasons are codes (`FlagReason`) so that
reports can count them; ``detail`` says in words which value was listed.

Everything is computed over distinct values (phones, domains, name words), never record by
record.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dedup_pipeline.config import (
    BlacklistConfig,
    ConfigError,
    JunkConfig,
    normalize_listed_domain,
    normalize_listed_email,
    normalize_listed_phone,
)
from dedup_pipeline.enrich.emails import DISPOSABLE_DOMAINS
from dedup_pipeline.schema import require_columns

__all__ = [
    "FLAGGED_RECORD_SCHEMA",
    "NONSENSE_WORDS",
    "Blacklist",
    "FlagReason",
    "flag_records",
    "is_nonsense_word",
]


class FlagReason:
    """Why a record was flagged (plain strings in tables)."""

    BLACKLISTED_PHONE = "blacklisted_phone"
    BLACKLISTED_EMAIL = "blacklisted_email"
    BLACKLISTED_DOMAIN = "blacklisted_domain"
    BLACKLISTED_SOURCE = "blacklisted_source"
    JUNK = "junk"


#: One row per flagged record.
FLAGGED_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "source": pl.String(),
    "reasons": pl.List(pl.String()),  # `FlagReason` codes, sorted
    "detail": pl.String(),  # the reasons in words, with the listed values
}

#: Words that mark a name as made up: test entries, stand-in names, keyboard mashing.
NONSENSE_WORDS: frozenset[str] = frozenset(
    {
        "test", "tests", "testing", "tester", "testtest", "тест", "тесты", "тестовый",
        "тестовая", "тестов", "тестовое", "тестович", "asdf", "qwerty", "qwe", "asd", "zxc",
        "йцукен", "фыва", "ячсмит", "xxx", "ххх", "spam", "спам", "fake", "фейк", "noname",
        "nobody", "unknown", "неизвестно", "неизвестный", "аноним", "anonymous", "null",
        "none", "nan", "undefined", "нет", "no", "name", "имя", "фамилия", "клиент",
        "client", "customer", "user", "пользователь", "lead", "лид", "заявка", "abc",
        "абв", "ааа", "aaa", "bot", "бот", "robot", "робот", "sdf", "dfg", "фыв",
    }
)  # fmt: skip

_KEYBOARD_ROWS = (
    "qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю",
    "1234567890",
)  # fmt: skip
_VOWELS = frozenset("aeiouyаеёиоуыэюя")


def is_nonsense_word(word: str, *, extra: frozenset[str] = frozenset()) -> bool:
    """Whether one lower-case word of a name is not a name.

    True for a listed word (`NONSENSE_WORDS` or ``extra``), one letter three or more
    times ("ааа"), four or more keys along a keyboard row ("asdf", "фыва", in either
    direction), two or three letters typed again to six or more ("ываыва"), or five or
    more letters with no vowel ("sdfgh").
    """
    if word in NONSENSE_WORDS or word in extra:
        return True
    if len(word) >= 3 and len(set(word)) == 1:
        return True
    if len(word) >= 4 and any(word in row or word in row[::-1] for row in _KEYBOARD_ROWS):
        return True
    # "ываыва", "asdasd": a short run typed again.
    if len(word) >= 6 and any(
        len(word) % size == 0 and word == word[:size] * (len(word) // size) for size in (2, 3)
    ):
        return True
    letters = [char for char in word if char.isalpha()]
    return len(letters) >= 5 and not _VOWELS.intersection(letters)


@dataclass(frozen=True)
class Blacklist:
    """Listed values, normalised: E.164 phones, lower-case e-mails and domains, sources."""

    phones: frozenset[str] = field(default_factory=frozenset)
    emails: frozenset[str] = field(default_factory=frozenset)
    domains: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_config(cls, config: BlacklistConfig, *, sources: list[str] | None = None) -> Blacklist:
        """The configured lists plus the entries of ``config.file``.

        Parameters
        ----------
        config
            The ``blacklist`` section.
        sources
            The declared source names; a file entry of kind ``source`` must be one.

        Raises
        ------
        ConfigError
            When the file cannot be read or an entry is unusable; the message names the
            file, the row and the field.
        """
        entries: dict[str, set[str]] = {
            "phone": set(config.phones),
            "email": set(config.emails),
            "domain": set(config.domains),
            "source": set(config.sources),
        }
        if config.file is not None:
            for kind, value in _read_file(config.file, config.default_region, sources):
                entries[kind].add(value)
        return cls(
            phones=frozenset(entries["phone"]),
            emails=frozenset(entries["email"]),
            domains=frozenset(entries["domain"]),
            sources=frozenset(entries["source"]),
        )

    @property
    def version(self) -> str:
        """A hash of every listed value: changes exactly when the lists do."""
        digest = hashlib.sha256()
        for values in (self.phones, self.emails, self.domains, self.sources):
            digest.update("\n".join(sorted(values)).encode("utf-8") + b"\0")
        return digest.hexdigest()[:16]


def _read_file(path: Path, region: str, sources: list[str] | None) -> list[tuple[str, str]]:
    readers = {
        "phone": lambda raw: normalize_listed_phone(raw, region),
        "email": normalize_listed_email,
        "domain": normalize_listed_domain,
        "source": lambda raw: raw.strip(),
    }
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"kind", "value"} - set(reader.fieldnames or [])
            if missing:
                raise ConfigError(
                    f"{path}: blacklist file needs columns kind and value; "
                    f"missing: {', '.join(sorted(missing))}"
                )
            entries = []
            # Row numbers as a spreadsheet shows them: the header is row 1.
            for row_number, row in enumerate(reader, start=2):
                kind = (row.get("kind") or "").strip().lower()
                raw = (row.get("value") or "").strip()
                if kind not in readers:
                    raise ConfigError(
                        f"{path}, row {row_number}, field kind: {kind!r} is not one of "
                        "phone, email, domain, source"
                    )
                try:
                    value = readers[kind](raw)
                except ValueError as exc:
                    raise ConfigError(f"{path}, row {row_number}, field value: {exc}") from None
                if kind == "source" and sources is not None and value not in sources:
                    raise ConfigError(
                        f"{path}, row {row_number}, field value: {value!r} is not a declared source"
                    )
                entries.append((kind, value))
    except FileNotFoundError:
        raise ConfigError(f"{path}: blacklist file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the blacklist file: {exc}") from None
    return entries


# Built once: the lead check screens one lead at a time.
_DISPOSABLE = pl.DataFrame({"domain": sorted(DISPOSABLE_DOMAINS)})

_EMPTY_HITS = pl.DataFrame(
    schema={"record_id": pl.String, "reason": pl.String, "detail": pl.String}
)


def _listed_values(
    contacts: pl.DataFrame, column: str, listed: frozenset[str], reason: str, noun: str
) -> pl.DataFrame:
    if not listed:
        return _EMPTY_HITS
    values = contacts.select("record_id", value=pl.col(column)).explode("value")
    return values.filter(pl.col("value").is_in(sorted(listed))).select(
        "record_id",
        reason=pl.lit(reason),
        detail=pl.format("{} {} is blacklisted", pl.lit(noun), pl.col("value")),
    )


def _listed_domains(contacts: pl.DataFrame, listed: frozenset[str]) -> pl.DataFrame:
    if not listed:
        return _EMPTY_HITS
    addresses = contacts.select("record_id", email=pl.col("emails_normalized")).explode("email")
    addresses = addresses.with_columns(domain=pl.col("email").str.split("@").list.last())
    distinct = addresses.get_column("domain").drop_nulls().unique()
    # A listed domain covers its subdomains: look up each suffix of each distinct domain.
    listed_by = {}
    for domain in distinct.to_list():
        labels = domain.split(".")
        for start in range(len(labels) - 1):
            suffix = ".".join(labels[start:])
            if suffix in listed:
                listed_by[domain] = suffix
                break
    if not listed_by:
        return _EMPTY_HITS
    hits = pl.DataFrame(
        {"domain": list(listed_by), "listed": list(listed_by.values())},
        schema={"domain": pl.String, "listed": pl.String},
    )
    return addresses.join(hits, on="domain").select(
        "record_id",
        reason=pl.lit(FlagReason.BLACKLISTED_DOMAIN),
        detail=pl.format("e-mail domain {} is blacklisted", pl.col("listed")),
    )


def _nonsense_names(contacts: pl.DataFrame, extra: frozenset[str]) -> pl.DataFrame:
    """``record_id``, ``name`` and ``nonsense`` for records with a name."""
    parts = [pl.col(c) for c in ("first_name_norm", "middle_name_norm", "last_name_norm")]
    # A full name is split into the parts as well: take it whole when there is one.
    name = pl.coalesce("full_name_norm", pl.concat_str(parts, separator=" ", ignore_nulls=True))
    names = contacts.select("record_id", name=name).filter(
        pl.col("name").is_not_null() & (pl.col("name") != "")
    )
    words = names.select("record_id", word=pl.col("name").str.split(" ")).explode("word")
    words = words.with_columns(pl.col("word").str.strip_chars("-'")).filter(pl.col("word") != "")
    distinct = words.get_column("word").unique()
    judged = pl.DataFrame(
        {
            "word": distinct,
            "nonsense": [is_nonsense_word(word, extra=extra) for word in distinct.to_list()],
            "listed": [word in NONSENSE_WORDS or word in extra for word in distinct.to_list()],
        },
        schema={"word": pl.String, "nonsense": pl.Boolean, "listed": pl.Boolean},
    )
    # A listed word ("тест") makes any name nonsense; mashing only when every word is.
    verdict = (
        words.join(judged, on="word")
        .group_by("record_id")
        .agg(nonsense=pl.col("listed").any() | pl.col("nonsense").all())
    )
    return names.join(verdict, on="record_id", how="left").with_columns(
        pl.col("nonsense").fill_null(True)  # a name of punctuation alone
    )


def _junk(contacts: pl.DataFrame, config: JunkConfig) -> pl.DataFrame:
    if not config.enabled:
        return _EMPTY_HITS
    extra = frozenset(word.strip().lower() for word in config.nonsense_words)
    addresses = (
        contacts.select("record_id", email=pl.col("emails_normalized"))
        .explode("email")
        .drop_nulls("email")
        .with_columns(domain=pl.col("email").str.split("@").list.last())
    )
    usable_email = addresses.join(_DISPOSABLE, on="domain", how="anti").select("record_id")
    unreachable = contacts.filter(pl.col("phones_e164").list.len().fill_null(0) == 0).join(
        usable_email, on="record_id", how="anti"
    )
    if unreachable.is_empty():
        return _EMPTY_HITS
    names = _nonsense_names(unreachable, extra)
    candidates = unreachable.select(
        "record_id",
        phones_written=pl.col("phones").list.len().fill_null(0),
        emails_written=pl.col("emails").list.len().fill_null(0),
    ).join(names, on="record_id", how="left")
    junk = candidates.filter(pl.col("name").is_null() | pl.col("nonsense"))
    phone_part = pl.when(pl.col("phones_written") > 0).then(pl.lit("no valid phone"))
    email_part = (
        pl.when(pl.col("emails_written") > 0)
        .then(pl.lit("no usable e-mail (invalid or disposable)"))
        .otherwise(pl.lit("no e-mail"))
    )
    name_part = (
        pl.when(pl.col("name").is_null())
        .then(pl.lit("no name"))
        .otherwise(pl.format("nonsense name '{}'", pl.col("name")))
    )
    return junk.select(
        "record_id",
        reason=pl.lit(FlagReason.JUNK),
        detail=pl.concat_str(
            [
                pl.lit("junk: "),
                pl.concat_str(
                    [phone_part.otherwise(pl.lit("no phone")), email_part, name_part],
                    separator=", ",
                ),
            ]
        ),
    )


def flag_records(contacts: pl.DataFrame, *, blacklist: Blacklist, junk: JunkConfig) -> pl.DataFrame:
    """Flag the records to keep out of merges, with the reasons.

    Parameters
    ----------
    contacts
        Normalised contacts (`CONTACT_SCHEMA`): ``phones_e164``, ``emails_normalized``, the
        raw ``phones``/``emails`` and the ``*_name_norm`` columns are read.
    blacklist
        Listed phones, e-mails, domains (with subdomains) and sources.
    junk
        When a record with no way to reach the client and no real name is junk.

    Returns
    -------
    polars.DataFrame
        One row per flagged record, with `FLAGGED_RECORD_SCHEMA`, sorted by ``record_id``.
    """
    require_columns(
        contacts,
        ["record_id", "source", "phones", "emails", "phones_e164", "emails_normalized"],
        table="contacts",
    )
    hits = [
        _listed_values(
            contacts, "phones_e164", blacklist.phones, FlagReason.BLACKLISTED_PHONE, "phone"
        ),
        _listed_values(
            contacts, "emails_normalized", blacklist.emails, FlagReason.BLACKLISTED_EMAIL, "e-mail"
        ),
        _listed_domains(contacts, blacklist.domains),
        _junk(contacts, junk),
    ]
    if blacklist.sources:
        hits.append(
            contacts.filter(pl.col("source").is_in(sorted(blacklist.sources))).select(
                "record_id",
                reason=pl.lit(FlagReason.BLACKLISTED_SOURCE),
                detail=pl.format("source {} is blacklisted", pl.col("source")),
            )
        )
    every_hit = pl.concat(hits).unique()
    return (
        every_hit.sort("reason", "detail")
        .group_by("record_id", maintain_order=True)
        .agg(reasons=pl.col("reason").unique(maintain_order=True), detail=pl.col("detail"))
        .with_columns(detail=pl.col("detail").list.join("; "))
        .join(contacts.select("record_id", "source"), on="record_id")
        .select(list(FLAGGED_RECORD_SCHEMA))
        .cast(FLAGGED_RECORD_SCHEMA)  # type: ignore[arg-type]
        .sort("record_id")
    )
