"""Realistic sample exports: the same clients as seen by Bitrix24, HubSpot and a web form.

`generate_sample` draws a population of clients (names, patronymics, phones, e-mails,
companies, cities) and spreads one to four records per client over three systems, each
written in its own export format and with the noise real CRMs have: phone formats, case,
one-character typos, transliteration, diminutives, swapped name order, missing fields,
e-mail case and domain typos, stray whitespace. Hard negatives are planted on purpose:
family members sharing a surname and a home phone, namesakes, and colleagues sharing a
switchboard number and an ``info@`` mailbox. A few unreadable rows exercise quarantine.

Everything is vectorised (numpy draws over the pools in `pools`, polars string
expressions, polars writers), so a million records take seconds, and the output is
byte-identical for the same arguments.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import phonenumbers
import polars as pl

from dedup_pipeline.samples import pools

__all__ = [
    "BITRIX24_COLUMNS",
    "HUBSPOT_COLUMNS",
    "SOURCES",
    "WEBFORM_KEYS",
    "BadRow",
    "SampleFiles",
    "generate_sample",
    "main",
    "n_bad_rows_for",
]

# --------------------------------------------------------------------------------------
# File layout.
# --------------------------------------------------------------------------------------
SOURCES: tuple[str, ...] = ("bitrix24", "hubspot", "webform")

BITRIX24_FILE = "bitrix24_contacts.csv"
HUBSPOT_FILE = "hubspot_contacts.csv"
WEBFORM_FILE = "webform_leads.jsonl"
TRUTH_FILE = "truth.csv"

BITRIX24_COLUMNS: tuple[str, ...] = (
    "ID", "Имя", "Отчество", "Фамилия", "Рабочий телефон", "Мобильный телефон",
    "Рабочий e-mail", "Частный e-mail", "Компания", "Город", "Дата создания",
    "Дата изменения", "Источник", "Ответственный", "truth_client_id",
)  # fmt: skip
HUBSPOT_COLUMNS: tuple[str, ...] = (
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number",
    "Company Name", "City", "Create Date", "Last Modified Date", "Lifecycle Stage",
    "Contact owner", "truth_client_id",
)  # fmt: skip
WEBFORM_KEYS: tuple[str, ...] = (
    "lead_id", "name", "phone", "email", "city", "submitted_at", "utm_source", "form",
    "truth_client_id",
)  # fmt: skip

BITRIX24_DATETIME = "%d.%m.%Y %H:%M:%S"
HUBSPOT_DATETIME = "%Y-%m-%d %H:%M:%S"
WEBFORM_DATETIME = "%Y-%m-%dT%H:%M:%SZ"

#: First HubSpot record id; ids grow by random steps from here.
HUBSPOT_FIRST_ID = 51_000_000_000
#: First Bitrix24 contact id.
BITRIX24_FIRST_ID = 101

# --------------------------------------------------------------------------------------
# Population.
# --------------------------------------------------------------------------------------
#: Probabilities of 1, 2, 3, 4 records per client (mean about 2).
RECORDS_PER_CLIENT_P: tuple[float, ...] = (0.36, 0.38, 0.18, 0.08)
#: Source weights (bitrix24, hubspot, webform) for Russian and for English-speaking clients.
SOURCE_WEIGHTS_RU: tuple[float, float, float] = (0.45, 0.25, 0.30)
SOURCE_WEIGHTS_EN: tuple[float, float, float] = (0.15, 0.55, 0.30)
#: A later record of a client lands in the same system as the first (in-source duplicate).
P_SAME_SOURCE_DUPLICATE = 0.12
#: Zipf exponent of the popularity weights over name pools (first entries most common).
NAME_ZIPF_EXPONENT = 0.9
P_FEMALE = 0.5
P_COMPANY = 0.5
#: Average number of clients per company (colleagues share switchboard and mailbox).
CLIENTS_PER_COMPANY = 2.5
#: A company client lives in the company's city.
P_CITY_OF_COMPANY = 0.9
#: Hard negatives: a family member of another client (same surname, city and home phone).
P_FAMILY_MEMBER = 0.04
#: Hard negatives: a namesake of another client (same names and city, own phones and
#: e-mails).
P_NAMESAKE = 0.03
P_HOME_PHONE = 0.15
P_SECOND_MOBILE = 0.10
P_PERSONAL_EMAIL = 0.85
P_WORK_EMAIL = 0.70
#: Clients' first record date range and the export date.
FIRST_SEEN_FROM = datetime(2021, 1, 1, tzinfo=UTC)
EXPORTED_AT = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
#: Mean days between a client's first and a later record.
MEAN_DAYS_BETWEEN_RECORDS = 120.0
#: A record never edited after creation.
P_NEVER_UPDATED = 0.35

# --------------------------------------------------------------------------------------
# Record noise.
# --------------------------------------------------------------------------------------
P_DIMINUTIVE = 0.15
P_WEBFORM_DIMINUTIVE = 0.35
P_NAME_TYPO = 0.04
P_NAME_UPPER = 0.03
P_NAME_LOWER = 0.04
P_WHITESPACE = 0.03
P_PATRONYMIC = 0.55
P_MISSING_LAST_NAME = 0.03
#: A Russian client's name in HubSpot is transliterated to Latin.
P_HUBSPOT_TRANSLIT = 0.75
#: A Russian client's name typed in Latin into Bitrix24.
P_BITRIX24_LATIN = 0.03
P_HUBSPOT_LATIN_CITY = 0.6
P_HUBSPOT_LATIN_COMPANY = 0.5
P_COMPANY_PRESENT = 0.88
P_CITY_PRESENT = 0.92
P_WEBFORM_CITY_PRESENT = 0.8
P_EMAIL_TITLECASE = 0.05
P_EMAIL_UPPER = 0.02
P_EMAIL_DOMAIN_TYPO = 0.03
P_EMAIL_WHITESPACE = 0.02
P_PHONE_WHITESPACE = 0.02
#: Web-form name layouts: "Имя Фамилия", "Фамилия Имя", "Имя", "Фамилия Имя Отчество",
#: "имя фамилия" in lower-case Latin.
WEBFORM_NAME_LAYOUT_P_RU: tuple[float, ...] = (0.44, 0.22, 0.14, 0.08, 0.12)
WEBFORM_NAME_LAYOUT_P_EN: tuple[float, ...] = (0.70, 0.05, 0.15, 0.00, 0.10)
#: Russian phone formats of one number, weights in `_phone_expr` order.
PHONE_FORMAT_P_RU: tuple[float, ...] = (0.22, 0.18, 0.14, 0.08, 0.16, 0.08, 0.08, 0.06)
PHONE_FORMAT_P_US: tuple[float, ...] = (0.40, 0.20, 0.20, 0.10, 0.05, 0.05)
PHONE_FORMAT_P_GB: tuple[float, ...] = (0.45, 0.30, 0.25)
#: Deliberately broken rows: at least this many, or one per this many clients.
MIN_BAD_ROWS = 3
CLIENTS_PER_BAD_ROW = 500
#: Web-form leads left by bots (junk: no valid phone or usable e-mail, a nonsense name):
#: at least this many, or one per this many clients. Each is its own client in the truth.
MIN_SPAM_LEADS = 6
CLIENTS_PER_SPAM_LEAD = 250
#: Broken row kinds in the order they are assigned.
BAD_ROW_KINDS: tuple[tuple[str, str], ...] = (
    ("bitrix24", "empty_id"),
    ("bitrix24", "extra_field"),
    ("webform", "invalid_json"),
)
#: The stray field appended to a Bitrix24 row with one field too many.
EXTRA_FIELD_TEXT = "перезвонить после 18:00"

_COUNTRY_RU, _COUNTRY_US, _COUNTRY_GB = 7, 1, 44
_CHUNK_LINES = 100_000


@dataclass(frozen=True)
class BadRow:
    """One deliberately unreadable row.

    Attributes
    ----------
    source
        ``"bitrix24"`` or ``"webform"``.
    line
        1-based physical line in the file (the CSV header is line 1).
    kind
        ``"empty_id"`` (Bitrix24 row without ``ID``), ``"extra_field"`` (Bitrix24 row with
        one ``;``-separated field too many) or ``"invalid_json"`` (truncated web-form line).
    record_id
        The source record id written in the row, ``None`` when it has none.
    """

    source: str
    line: int
    kind: str
    record_id: str | None = None


@dataclass(frozen=True)
class SampleFiles:
    """The files `generate_sample` wrote and what is in them.

    Attributes
    ----------
    bitrix24, hubspot, webform, truth
        Paths of the three exports and of the ground truth.
    records
        Good records (those listed in ``truth.csv``) per source name.
    n_clients
        Distinct clients drawn.
    bad_rows
        The deliberately unreadable rows, not in ``truth.csv``.
    """

    bitrix24: Path
    hubspot: Path
    webform: Path
    truth: Path
    records: dict[str, int] = field(default_factory=dict)
    n_clients: int = 0
    bad_rows: tuple[BadRow, ...] = ()

    @property
    def paths(self) -> dict[str, Path]:
        """Every file written, by name (the three sources and ``"truth"``)."""
        return {
            "bitrix24": self.bitrix24,
            "hubspot": self.hubspot,
            "webform": self.webform,
            "truth": self.truth,
        }

    @property
    def records_per_source(self) -> dict[str, int]:
        """Good records per source (same as `records`)."""
        return dict(self.records)

    @property
    def n_records(self) -> int:
        """Good records over all sources."""
        return sum(self.records.values())

    @property
    def n_bitrix24(self) -> int:
        """Good Bitrix24 records."""
        return self.records.get("bitrix24", 0)

    @property
    def n_hubspot(self) -> int:
        """Good HubSpot records."""
        return self.records.get("hubspot", 0)

    @property
    def n_webform(self) -> int:
        """Good web-form records."""
        return self.records.get("webform", 0)

    @property
    def n_bad_rows(self) -> int:
        """Deliberately broken rows over all sources."""
        return len(self.bad_rows)


def n_bad_rows_for(n_clients: int) -> int:
    """Number of deliberately broken rows written for ``n_clients`` clients.

    Parameters
    ----------
    n_clients
        Number of distinct clients.

    Returns
    -------
    int
        ``max(MIN_BAD_ROWS, n_clients // CLIENTS_PER_BAD_ROW)``.
    """
    return max(MIN_BAD_ROWS, n_clients // CLIENTS_PER_BAD_ROW)


# --------------------------------------------------------------------------------------
# Variant tables: per id, a list of spellings to draw from.
# --------------------------------------------------------------------------------------
class _Variants:
    """Flattened lists of strings, one list per integer key."""

    def __init__(self, lists: Sequence[Sequence[str]]) -> None:
        if any(len(values) == 0 for values in lists):
            raise ValueError("every key needs at least one variant")
        self.lengths = np.array([len(values) for values in lists], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(self.lengths)[:-1])).astype(np.int64)
        self.flat = pl.Series([v for values in lists for v in values], dtype=pl.String)

    def pick(self, keys: np.ndarray, u: np.ndarray) -> pl.Series:
        """One variant per key, chosen by the uniform draws ``u``."""
        keys = np.asarray(keys, dtype=np.int64)
        index = self.offsets[keys] + np.minimum(
            (u * self.lengths[keys]).astype(np.int64), self.lengths[keys] - 1
        )
        return self.flat.gather(index)


def _where(mask: np.ndarray, yes: pl.Series, no: pl.Series | None = None) -> pl.Series:
    """``yes`` where ``mask`` holds, else ``no`` (or null), without leaving polars."""
    expr = pl.when(pl.lit(pl.Series(mask, dtype=pl.Boolean))).then(pl.lit(yes))
    if no is not None:
        expr = expr.otherwise(pl.lit(no))
    return pl.select(expr.alias(yes.name)).to_series()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


@lru_cache(maxsize=4096)
def _bgn(text: str) -> str:
    return pools.transliterate(text, "bgn")


@lru_cache(maxsize=4096)
def _latin_key(text: str) -> str:
    """Lower-case ASCII form for e-mail addresses and domains."""
    latin = _bgn(text).lower()
    return "".join(ch for ch in latin if ch.isascii() and ch.isalnum())


@dataclass(frozen=True)
class _Pools:
    """Name universes with global ids, weights and variant tables (built once)."""

    first_names: tuple[str, ...]
    first_base: np.ndarray  # offsets of RU_M, RU_F, EN_M, EN_F in `first_names`
    first_sizes: np.ndarray
    first_variants: _Variants  # key = first_id * 4 + (latin * 2 + diminutive)
    first_email: pl.Series
    n_ru_surnames: int
    n_en_surnames: int
    surname_variants: _Variants  # key = surname_form_id * 2 + latin
    surname_email: pl.Series
    patronymics: pl.Series  # key = patronymic_idx * 2 + female
    city_variants: _Variants  # key = city_id * 2 + latin
    city_weights_ru: np.ndarray
    city_weights_en: np.ndarray
    city_country: np.ndarray
    mobile_blocks: _Variants  # key = city_id
    landline_blocks: _Variants  # key = city_id
    email_domains: pl.Series
    email_domains_ru: np.ndarray
    email_domains_en: np.ndarray
    email_domain_typos: _Variants  # key = domain id


def _zipf_weights(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** NAME_ZIPF_EXPONENT
    return weights / weights.sum()


def _first_name_lists(name: str, russian: bool) -> list[list[str]]:
    if russian:
        full_latin = _unique(
            [*pools.transliterations(name), *pools.LATIN_NAME_VARIANTS.get(name, ())]
        )
        diminutives = list(pools.RU_DIMINUTIVES.get(name, ()))
        dim_latin = _unique(
            pools.transliterate(d, scheme) for d in diminutives for scheme in ("bgn", "informal")
        )
        return [[name], diminutives or [name], full_latin, dim_latin or full_latin]
    diminutives = list(pools.EN_DIMINUTIVES.get(name, ())) or [name]
    return [[name], diminutives, [name], diminutives]


def _phone_block_ok(country: int, prefix: str, checks: int = 12) -> bool:
    """Whether numbers in a block pass `phonenumbers.is_valid_number` (sampled)."""
    rng = np.random.default_rng(int(prefix) * 100 + country)
    suffix_len = 10 - len(prefix)
    for value in rng.integers(0, 10**suffix_len, size=checks):
        number = phonenumbers.PhoneNumber(
            country_code=country, national_number=int(prefix + str(value).zfill(suffix_len))
        )
        if not phonenumbers.is_valid_number(number):
            return False
    return True


def _phone_blocks() -> tuple[list[list[str]], list[list[str]], list[int]]:
    """Mobile and landline number blocks per city id, and the city's country code."""
    mobile: list[list[str]] = []
    landline: list[list[str]] = []
    country: list[int] = []
    ru_mobile = [p for p in pools.RU_MOBILE_PREFIXES if _phone_block_ok(_COUNTRY_RU, p)]
    for canonical, *_rest in pools.CITIES_RU:
        codes = pools.RU_LANDLINE_CODES[canonical]
        blocks = [c + d for c in codes for d in "23456789" if _phone_block_ok(_COUNTRY_RU, c + d)]
        mobile.append(ru_mobile)
        landline.append(blocks)
        country.append(_COUNTRY_RU)
    uk_mobile = [p for p in pools.UK_MOBILE_PREFIXES if _phone_block_ok(_COUNTRY_GB, p)]
    exchanges = [f"{e}" for e in range(201, 1000, 13) if e % 100 != 11]
    for _canonical, _spellings, code, area_codes, _weight in pools.CITIES_EN:
        if code == "GB":
            blocks = [
                p
                for area in area_codes
                for p in pools.UK_LANDLINE_PREFIXES[area]
                if _phone_block_ok(_COUNTRY_GB, p)
            ]
            mobile.append(uk_mobile)
            landline.append(blocks)
            country.append(_COUNTRY_GB)
        else:
            blocks = [a + e for a in area_codes for e in exchanges if _phone_block_ok(1, a + e, 4)]
            mobile.append(blocks)
            landline.append(blocks)
            country.append(_COUNTRY_US)
    return mobile, landline, country


@lru_cache(maxsize=1)
def _pools() -> _Pools:
    groups = (
        pools.FIRST_NAMES_RU_M,
        pools.FIRST_NAMES_RU_F,
        pools.FIRST_NAMES_EN_M,
        pools.FIRST_NAMES_EN_F,
    )
    sizes = tuple(len(g) for g in groups)
    base = tuple(int(x) for x in np.concatenate(([0], np.cumsum(sizes)[:-1])))
    first_names = tuple(itertools.chain.from_iterable(groups))
    first_lists: list[list[str]] = []
    for group_no, group in enumerate(groups):
        for name in group:
            first_lists.extend(_first_name_lists(name, russian=group_no < 2))

    ru_male = pools.SURNAMES_RU
    ru_female = tuple(pools.female_surname(s) for s in ru_male)
    surname_lists: list[list[str]] = []
    surname_forms = [*ru_male, *ru_female]
    for form in surname_forms:
        surname_lists.extend([[form], list(pools.transliterations(form))])
    for name in pools.SURNAMES_EN:
        surname_lists.extend([[name], [name]])
    surname_forms.extend(pools.SURNAMES_EN)

    city_lists: list[list[str]] = []
    for _canonical, cyrillic, latin, _codes, _weight in pools.CITIES_RU:
        city_lists.extend([list(cyrillic), list(latin)])
    for _canonical, spellings, _code, _codes, _weight in pools.CITIES_EN:
        city_lists.extend([list(spellings), list(spellings)])
    weights_ru = np.array([c[-1] for c in pools.CITIES_RU])
    weights_en = np.array([c[-1] for c in pools.CITIES_EN])

    mobile, landline, country = _phone_blocks()

    domains = _unique([*pools.EMAIL_DOMAINS_RU, *pools.EMAIL_DOMAINS_EN])
    domain_id = {d: i for i, d in enumerate(domains)}
    return _Pools(
        first_names=first_names,
        first_base=np.array(base, dtype=np.int64),
        first_sizes=np.array(sizes, dtype=np.int64),
        first_variants=_Variants(first_lists),
        first_email=pl.Series([_latin_key(n) for n in first_names], dtype=pl.String),
        n_ru_surnames=len(ru_male),
        n_en_surnames=len(pools.SURNAMES_EN),
        surname_variants=_Variants(surname_lists),
        surname_email=pl.Series([_latin_key(s) for s in surname_forms], dtype=pl.String),
        patronymics=pl.Series([f for pair in pools.PATRONYMICS for f in pair], dtype=pl.String),
        city_variants=_Variants(city_lists),
        city_weights_ru=weights_ru / weights_ru.sum(),
        city_weights_en=weights_en / weights_en.sum(),
        city_country=np.array(country, dtype=np.int64),
        mobile_blocks=_Variants(mobile),
        landline_blocks=_Variants(landline),
        email_domains=pl.Series(domains, dtype=pl.String),
        email_domains_ru=np.array([domain_id[d] for d in pools.EMAIL_DOMAINS_RU]),
        email_domains_en=np.array([domain_id[d] for d in pools.EMAIL_DOMAINS_EN]),
        email_domain_typos=_Variants(
            [list(pools.EMAIL_DOMAIN_TYPOS.get(d, (d,))) for d in domains]
        ),
    )


# --------------------------------------------------------------------------------------
# Clients and companies.
# --------------------------------------------------------------------------------------
def _national_numbers(rng: np.random.Generator, blocks: pl.Series) -> pl.Series:
    """Ten-digit national numbers: each block prefix completed with random digits."""
    suffix_len = (10 - blocks.str.len_chars()).cast(pl.Int64).to_numpy()
    suffix = (rng.random(len(blocks)) * 10.0**suffix_len).astype(np.int64) + 10**suffix_len
    return blocks + pl.Series(suffix).cast(pl.String).str.slice(1)


def _draw_phones(
    rng: np.random.Generator, p: _Pools, table: _Variants, city_id: np.ndarray
) -> pl.Series:
    """Phone numbers of people or offices in these cities, as ``"CC" + national number``.

    The two-digit country prefix (``07``, ``01``, ``44``) travels with the number so that a
    number is always written in its own country's formats, whoever it is shared with.
    """
    country = pl.Series(p.city_country[city_id]).cast(pl.String).str.zfill(2)
    return country + _national_numbers(rng, table.pick(city_id, rng.random(len(city_id))))


def _draw_new_phones(
    rng: np.random.Generator,
    p: _Pools,
    table: _Variants,
    city_id: np.ndarray,
    taken: Sequence[pl.Series] = (),
) -> pl.Series:
    """Like `_draw_phones`, redrawing numbers that repeat each other or one in ``taken``.

    Numbers are shared only on purpose (switchboards, family home phones), never by chance.
    """
    numbers = _draw_phones(rng, p, table, city_id)
    before = sum(len(t) for t in taken)
    for _ in range(50):
        everything = pl.concat([*taken, numbers]) if taken else numbers
        repeat = (~everything.is_first_distinct()).to_numpy()[before:]
        if not repeat.any():
            return numbers
        index = np.flatnonzero(repeat)
        fresh = _draw_phones(rng, p, table, city_id[index])
        numbers = numbers.scatter(index, fresh)
    raise RuntimeError("could not draw distinct phone numbers")  # pragma: no cover


def _distinct(head: pl.Series, tail: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Append digits to ``head`` where ``head + tail`` repeats, until all are distinct.

    Nulls (in either part) are left alone. Used for e-mail local parts (``tail`` is
    ``"@domain"``) and for web domains (``tail`` is the top-level domain).
    """
    for _ in range(50):
        whole = head + tail
        repeat = ((~whole.is_first_distinct()) & whole.is_not_null()).to_numpy()
        if not repeat.any():
            return head
        digits = pl.Series(rng.integers(1, 100, len(head))).cast(pl.String)
        head = _where(repeat, head + digits, head)
    raise RuntimeError("could not make values distinct")  # pragma: no cover


def _companies(
    rng: np.random.Generator, p: _Pools, n_companies: int, russian: np.ndarray, city_id: np.ndarray
) -> tuple[pl.DataFrame, _Variants]:
    """Companies: rendered name variants, web domain, switchboard, shared mailbox."""
    legal = rng.integers(0, len(pools.LEGAL_FORMS_RU), n_companies)
    legal_en = rng.integers(0, len(pools.LEGAL_FORMS_EN), n_companies)
    brand_ru = rng.choice(len(pools.COMPANY_BRANDS_RU), n_companies)
    suffix_ru = rng.integers(0, len(pools.COMPANY_SUFFIXES_RU), n_companies)
    brand_en = rng.choice(len(pools.COMPANY_BRANDS_EN), n_companies)
    suffix_en = rng.integers(0, len(pools.COMPANY_SUFFIXES_EN), n_companies)
    owner = rng.choice(p.n_ru_surnames, n_companies, p=_zipf_weights(p.n_ru_surnames))
    mailbox = rng.integers(0, 4, n_companies)
    lists: list[list[str]] = []
    domains: list[tuple[str, str]] = []
    for i in range(n_companies):
        if russian[i]:
            short, full = pools.LEGAL_FORMS_RU[legal[i]]
            if short == "ИП":
                surname = pools.SURNAMES_RU[owner[i]]
                lat = _bgn(surname)
                cyr = [
                    f"ИП {surname}",
                    f"ИП {surname}",
                    f"{full} {surname}",
                    f"ИП {surname.upper()}",
                ]
                latin = [f"IP {lat}", f"IE {lat}", f"IP {lat}"]
                domain = (f"ip-{_latin_key(surname)}", ".ru")
            else:
                brand = (
                    pools.COMPANY_BRANDS_RU[brand_ru[i]] + pools.COMPANY_SUFFIXES_RU[suffix_ru[i]]
                )
                lat = _bgn(brand)
                lat_short, lat_en = pools.LEGAL_FORMS_RU_LATIN[short]
                cyr = [
                    f"{short} «{brand}»", f"{short} «{brand}»", f'{short} "{brand}"', brand,
                    f"{short} {brand}", f"{short} «{brand.upper()}»", f"{full} «{brand}»",
                ]  # fmt: skip
                latin = [f"{lat} {lat_en}", f"{lat_short} {lat}", lat, f'{lat_short} "{lat}"']
                domain = (_latin_key(brand), ".ru")
        else:
            brand = pools.COMPANY_BRANDS_EN[brand_en[i]] + pools.COMPANY_SUFFIXES_EN[suffix_en[i]]
            form = pools.LEGAL_FORMS_EN[legal_en[i]]
            cyr = latin = [f"{brand} {form}", f"{brand} {form}", brand, f"{brand.upper()} {form}"]
            tld = ".co.uk" if p.city_country[city_id[i]] == _COUNTRY_GB else ".com"
            domain = (_latin_key(brand), tld)
        lists.extend([cyr, latin])
        domains.append(domain)
    heads = pl.Series([head for head, _tld in domains], dtype=pl.String)
    tlds = pl.Series([tld for _head, tld in domains], dtype=pl.String)
    domain_series = _distinct(heads, tlds, rng) + tlds
    mailbox_names = pl.Series(["info", "office", "sales", "hello"])
    return pl.DataFrame(
        {
            "company_key": np.arange(n_companies, dtype=np.int64) * 2,
            "company_city": city_id,
            "domain": domain_series,
            "shared_mailbox": mailbox_names.gather(mailbox) + "@" + domain_series,
            "switchboard": _draw_new_phones(rng, p, p.landline_blocks, city_id),
        }
    ), _Variants(lists)


def _draw_clients(
    rng: np.random.Generator, p: _Pools, n: int, ru_share: float
) -> tuple[pl.DataFrame, _Variants]:
    """The client population, one row per client."""
    russian = rng.random(n) < ru_share
    female = rng.random(n) < P_FEMALE
    group = np.where(russian, 0, 2) + female.astype(np.int64)
    first_id = np.empty(n, dtype=np.int64)
    for g in range(4):
        mask = group == g
        first_id[mask] = p.first_base[g] + rng.choice(
            p.first_sizes[g], int(mask.sum()), p=_zipf_weights(p.first_sizes[g])
        )
    surname_idx = np.where(
        russian,
        rng.choice(p.n_ru_surnames, n, p=_zipf_weights(p.n_ru_surnames)),
        rng.choice(p.n_en_surnames, n, p=_zipf_weights(p.n_en_surnames)),
    )
    patronymic_idx = rng.choice(len(pools.PATRONYMICS), n, p=_zipf_weights(len(pools.PATRONYMICS)))
    city_id = np.where(
        russian,
        rng.choice(len(pools.CITIES_RU), n, p=p.city_weights_ru),
        len(pools.CITIES_RU) + rng.choice(len(pools.CITIES_EN), n, p=p.city_weights_en),
    )

    # Hard negatives: namesakes copy the names of another client; family members copy the
    # surname and city (and below, the home phone) but get their own first name.
    others = rng.integers(0, n, n)
    role = rng.random(n)
    namesake = (role < P_NAMESAKE) & (others != np.arange(n))
    family = (role >= P_NAMESAKE) & (role < P_NAMESAKE + P_FAMILY_MEMBER) & ~namesake
    family &= others != np.arange(n)
    # copy only from "original" clients, so that relatives' copies are consistent
    namesake &= ~namesake[others]
    family &= ~(family | namesake)[others]
    # Namesakes live in the same city too: a name and a city are no proof of one person.
    for values in (russian, female, first_id, surname_idx, patronymic_idx, city_id):
        values[namesake] = values[others[namesake]]
    for values in (russian, surname_idx, city_id):
        values[family] = values[others[family]]
    # a family member's first name: drawn again in their own group, never the relative's
    group = np.where(russian, 0, 2) + female.astype(np.int64)
    base = np.take(p.first_base, group)
    sizes = np.take(p.first_sizes, group)
    drawn = base + (rng.random(n) * sizes).astype(np.int64)
    first_id = np.where(family, drawn, first_id)
    clash = family & (first_id == first_id[others])
    first_id = np.where(clash, base + (first_id - base + 1) % sizes, first_id)

    surname_form = np.where(
        russian, surname_idx + female * p.n_ru_surnames, 2 * p.n_ru_surnames + surname_idx
    )

    # Companies, per language, about CLIENTS_PER_COMPANY clients each.
    has_company = rng.random(n) < P_COMPANY
    company_id = np.full(n, -1, dtype=np.int64)
    n_comp_ru = max(1, round(int((has_company & russian).sum()) / CLIENTS_PER_COMPANY))
    n_comp_en = max(1, round(int((has_company & ~russian).sum()) / CLIENTS_PER_COMPANY))
    comp_russian = np.concatenate((np.ones(n_comp_ru, bool), np.zeros(n_comp_en, bool)))
    comp_city = np.concatenate(
        (
            rng.choice(len(pools.CITIES_RU), n_comp_ru, p=p.city_weights_ru),
            len(pools.CITIES_RU) + rng.choice(len(pools.CITIES_EN), n_comp_en, p=p.city_weights_en),
        )
    )
    company_id[has_company & russian] = rng.integers(
        0, n_comp_ru, int((has_company & russian).sum())
    )
    company_id[has_company & ~russian] = n_comp_ru + rng.integers(
        0, n_comp_en, int((has_company & ~russian).sum())
    )
    companies, company_variants = _companies(rng, p, n_comp_ru + n_comp_en, comp_russian, comp_city)
    in_company_city = has_company & (rng.random(n) < P_CITY_OF_COMPANY) & ~family & ~namesake
    city_id = np.where(in_company_city, comp_city[np.maximum(company_id, 0)], city_id)
    for values in (city_id,):
        values[family] = values[others[family]]

    switchboards = companies["switchboard"]
    home = _draw_new_phones(rng, p, p.landline_blocks, city_id, [switchboards])
    mobile = _draw_new_phones(rng, p, p.mobile_blocks, city_id, [switchboards, home])
    mobile2 = _draw_new_phones(rng, p, p.mobile_blocks, city_id, [switchboards, home, mobile])
    has_home = (rng.random(n) < P_HOME_PHONE) | family
    has_home[others[family]] = True
    home = home.gather(np.where(family, others, np.arange(n)))
    has_mobile2 = rng.random(n) < P_SECOND_MOBILE

    client = np.arange(n, dtype=np.int64)
    frame = pl.DataFrame(
        {
            "client": client,
            "truth_client_id": pl.Series(client + 1).cast(pl.String).str.zfill(6),
            "russian": russian,
            "female": female,
            "first_id": first_id,
            "surname_form": surname_form,
            "patronymic_key": patronymic_idx * 2 + female,
            "city_id": city_id,
            "company_key": np.where(company_id >= 0, company_id * 2, -1),
            "mobile": mobile,
            "mobile2": _where(has_mobile2, mobile2),
            "home": _where(has_home, home),
        }
    ).with_columns(("C" + pl.col("truth_client_id")).alias("truth_client_id"))
    frame = frame.join(
        companies.select("company_key", "domain", "shared_mailbox", "switchboard"),
        on="company_key",
        how="left",
        maintain_order="left",
    )
    return _with_emails(rng, p, frame), company_variants


def _with_emails(rng: np.random.Generator, p: _Pools, clients: pl.DataFrame) -> pl.DataFrame:
    """Personal (free-mail) and work addresses, distinct across clients."""
    n = clients.height
    first = p.first_email.gather(clients["first_id"].to_numpy())
    last = p.surname_email.gather(clients["surname_form"].to_numpy())
    initial = first.str.slice(0, 1)
    year = pl.Series(rng.integers(60, 106, n) % 100).cast(pl.String).str.zfill(2)
    number = pl.Series(rng.integers(1, 1000, n)).cast(pl.String)
    patterns = [
        first + "." + last, first + "_" + last, initial + "." + last, initial + last,
        last + year, first + last + year, first + number, last + "." + first,
        first + "." + last + year, last + initial,
    ]  # fmt: skip
    weights = np.array([0.25, 0.08, 0.12, 0.08, 0.1, 0.1, 0.07, 0.07, 0.08, 0.05])
    choice = rng.choice(len(patterns), n, p=weights / weights.sum())
    local = pl.select(
        pl.coalesce([pl.when(pl.lit(choice) == i).then(pat) for i, pat in enumerate(patterns)])
    ).to_series()
    russian = clients["russian"].to_numpy()
    domain = np.where(
        russian,
        rng.choice(p.email_domains_ru, n),
        rng.choice(p.email_domains_en, n),
    )
    has_personal = rng.random(n) < P_PERSONAL_EMAIL
    # repeats (namesakes, popular patterns) get digits appended to the local part
    local = _distinct(local, "@" + p.email_domains.gather(domain), rng)
    local = _where(has_personal, local)

    work_choice = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    work_local = pl.select(
        pl.when(pl.lit(work_choice) == 0)
        .then(first + "." + last)
        .when(pl.lit(work_choice) == 1)
        .then(initial + "." + last)
        .otherwise(first)
    ).to_series()
    has_work = (rng.random(n) < P_WORK_EMAIL) & clients["domain"].is_not_null().to_numpy()
    work_local = _distinct(_where(has_work, work_local), "@" + clients["domain"], rng)
    work = work_local + "@" + clients["domain"]
    return clients.with_columns(email_local=local, email_domain=pl.Series(domain), work_email=work)


# --------------------------------------------------------------------------------------
# Records.
# --------------------------------------------------------------------------------------
def _draw_records(rng: np.random.Generator, clients: pl.DataFrame, n_bad: int) -> pl.DataFrame:
    """One row per record: client, source, creation and update times, bad-row kind."""
    n = clients.height
    k = rng.choice(len(RECORDS_PER_CLIENT_P), n, p=RECORDS_PER_CLIENT_P) + 1
    russian = clients["russian"].to_numpy()
    weights = np.where(russian[:, None], SOURCE_WEIGHTS_RU, SOURCE_WEIGHTS_EN)
    # weighted order of the three systems per client (Gumbel top-k)
    order = np.argsort(-(np.log(weights) + rng.gumbel(size=(n, 3))), axis=1)
    client = np.repeat(np.arange(n), k)
    rank = np.arange(client.size) - np.repeat(np.cumsum(k) - k, k)
    slot = np.where(rank < 3, rank, rng.integers(0, 3, client.size))
    slot = np.where((rank > 0) & (rng.random(client.size) < P_SAME_SOURCE_DUPLICATE), 0, slot)
    source = order[client, slot]

    bad_client = rng.integers(0, n, n_bad)
    bad_kind = np.arange(n_bad) % len(BAD_ROW_KINDS)
    bad_source = np.array([SOURCES.index(BAD_ROW_KINDS[i][0]) for i in bad_kind], dtype=np.int64)
    client = np.concatenate((client, bad_client))
    source = np.concatenate((source, bad_source))
    rank = np.concatenate((rank, np.ones(n_bad, dtype=np.int64)))
    kind = [None] * (client.size - n_bad) + [BAD_ROW_KINDS[i][1] for i in bad_kind]

    start = int(FIRST_SEEN_FROM.timestamp())
    end = int(EXPORTED_AT.timestamp())
    first_seen = start + (rng.random(n) * (end - start - 30 * 86400)).astype(np.int64)
    gap = (rng.exponential(MEAN_DAYS_BETWEEN_RECORDS * 86400, client.size)).astype(np.int64)
    created = np.minimum(first_seen[client] + np.where(rank == 0, 0, gap), end)
    updated = created + ((end - created) * rng.random(client.size) ** 3).astype(np.int64)
    updated = np.where(rng.random(client.size) < P_NEVER_UPDATED, created, updated)
    return pl.DataFrame(
        {
            "record": np.arange(client.size, dtype=np.int64),
            "client": client,
            "source": source,
            "created": created,
            "updated": updated,
            "bad_kind": pl.Series(kind, dtype=pl.String),
        }
    )


class _Draws:
    """Uniform draws for one source's rows, as literal columns of length ``n``."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.n = n

    def __call__(self) -> pl.Expr:
        return pl.lit(pl.Series(self.rng.random(self.n)))

    def array(self) -> np.ndarray:
        return self.rng.random(self.n)


def _typo(text: pl.Expr, u: pl.Expr, pos: pl.Expr) -> pl.Expr:
    """One-character typo (delete, double or swap) when ``u < P_NAME_TYPO``."""
    length = text.str.len_chars()
    p = (pos * (length - 2).clip(lower_bound=1)).floor().cast(pl.Int64) + 1
    op = (u / P_NAME_TYPO * 3).floor()
    deleted = text.str.slice(0, p) + text.str.slice(p + 1)
    doubled = text.str.slice(0, p + 1) + text.str.slice(p)
    swapped = (
        text.str.slice(0, p)
        + text.str.slice(p + 1, 1)
        + text.str.slice(p, 1)
        + text.str.slice(p + 2)
    )
    return (
        pl.when((u >= P_NAME_TYPO) | (length < 4))
        .then(text)
        .when(op == 0)
        .then(deleted)
        .when(op == 1)
        .then(doubled)
        .otherwise(swapped)
    )


def _case(text: pl.Expr, u: pl.Expr) -> pl.Expr:
    return (
        pl.when(u < P_NAME_UPPER)
        .then(text.str.to_uppercase())
        .when(u < P_NAME_UPPER + P_NAME_LOWER)
        .then(text.str.to_lowercase())
        .otherwise(text)
    )


def _whitespace(text: pl.Expr, u: pl.Expr, p: float = P_WHITESPACE) -> pl.Expr:
    return pl.when(u < p / 2).then(text + " ").when(u < p).then(" " + text).otherwise(text)


def _email_case(address: pl.Expr, u: pl.Expr) -> pl.Expr:
    return (
        pl.when(u < P_EMAIL_TITLECASE)
        .then(address.str.to_titlecase())
        .when(u < P_EMAIL_TITLECASE + P_EMAIL_UPPER)
        .then(address.str.to_uppercase())
        .otherwise(address)
    )


def _phone_expr(number: pl.Expr, u: pl.Expr) -> pl.Expr:
    """A ``"CC" + national`` number written in one of the formats its country's users type."""
    country = number.str.slice(0, 2).cast(pl.Int64)
    n = number.str.slice(2)
    a, b, c, d = n.str.slice(0, 3), n.str.slice(3, 3), n.str.slice(6, 2), n.str.slice(8, 2)
    ru = [
        "+7 " + a + " " + b + "-" + c + "-" + d,
        "8 (" + a + ") " + b + "-" + c + "-" + d,
        "8" + n,
        n,
        "+7" + n,
        "+7(" + a + ")" + b + " " + c + " " + d,
        "+7 (" + a + ") " + b + "-" + c + "-" + d,
        "8-" + a + "-" + b + "-" + c + "-" + d,
    ]
    last4 = n.str.slice(6, 4)
    us = [
        "+1 (" + a + ") " + b + "-" + last4,
        "+1 " + a + "-" + b + "-" + last4,
        "+1" + n,
        "+1 " + a + " " + b + " " + last4,
        "+1-" + a + "-" + b + "-" + last4,
        "+1." + a + "." + b + "." + last4,
    ]
    # UK groups: London 20 XXXX XXXX, Manchester 161 XXX XXXX, mobile 7XXX XXXXXX
    mobile, london = n.str.starts_with("7"), n.str.starts_with("20")
    grouped = (
        pl.when(mobile)
        .then(n.str.slice(0, 4) + " " + n.str.slice(4))
        .when(london)
        .then(n.str.slice(0, 2) + " " + n.str.slice(2, 4) + " " + n.str.slice(6))
        .otherwise(n.str.slice(0, 3) + " " + b + " " + last4)
    )
    gb = ["+44 " + grouped, "+44" + n, "+44 (0)" + grouped]

    def pick(formats: list[pl.Expr], weights: Sequence[float]) -> pl.Expr:
        edges = np.cumsum(weights) / np.sum(weights)
        expr = pl.when(u < edges[0]).then(formats[0])
        for edge, fmt in zip(edges[1:-1], formats[1:-1], strict=True):
            expr = expr.when(u < edge).then(fmt)
        return expr.otherwise(formats[-1])

    return (
        pl.when(country == _COUNTRY_RU)
        .then(pick(ru, PHONE_FORMAT_P_RU))
        .when(country == _COUNTRY_US)
        .then(pick(us, PHONE_FORMAT_P_US))
        .otherwise(pick(gb, PHONE_FORMAT_P_GB))
    )


def _add_noise(
    rows: pl.DataFrame,
    draw: _Draws,
    names: Sequence[str] = (),
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
) -> pl.DataFrame:
    """Noise for text columns in stages, each stage materialised (no repeated work).

    Names get a typo, case noise and stray whitespace; phone columns hold national numbers
    and are written in a random format (with stray whitespace); e-mails get case noise and
    stray whitespace.
    """
    rows = rows.with_columns(*(_typo(pl.col(c), draw(), draw()).alias(c) for c in names))
    rows = rows.with_columns(
        *(_case(pl.col(c), draw()).alias(c) for c in names),
        *(_phone_expr(pl.col(c), draw()).alias(c) for c in phones),
        *(_email_case(pl.col(c), draw()).alias(c) for c in emails),
    )
    return rows.with_columns(
        *(_whitespace(pl.col(c), draw()).alias(c) for c in names),
        *(_whitespace(pl.col(c), draw(), P_PHONE_WHITESPACE).alias(c) for c in phones),
        *(_whitespace(pl.col(c), draw(), P_EMAIL_WHITESPACE).alias(c) for c in emails),
    )


def _source_frame(
    rng: np.random.Generator,
    p: _Pools,
    records: pl.DataFrame,
    clients: pl.DataFrame,
    companies: _Variants,
    source: str,
) -> tuple[pl.DataFrame, _Draws]:
    """The records of one source with client attributes and per-record spellings."""
    rows = records.filter(pl.col("source") == SOURCES.index(source)).sort("created", "record")
    rows = pl.concat(
        [rows, clients.select(pl.all().gather(rows["client"].to_numpy())).drop("client")],
        how="horizontal",
    )
    n = rows.height
    draw = _Draws(rng, n)
    russian = rows["russian"].to_numpy()

    # script and short-form choices per record
    if source == "hubspot":
        latin = ~russian | (draw.array() < P_HUBSPOT_TRANSLIT)
        city_latin = ~russian | (draw.array() < P_HUBSPOT_LATIN_CITY)
        company_latin = ~russian | (draw.array() < P_HUBSPOT_LATIN_COMPANY)
    elif source == "bitrix24":
        latin = ~russian | (draw.array() < P_BITRIX24_LATIN)
        city_latin = ~russian
        company_latin = ~russian
    else:
        latin = ~russian
        city_latin = ~russian
        company_latin = ~russian
    p_dim = P_WEBFORM_DIMINUTIVE if source == "webform" else P_DIMINUTIVE
    diminutive = draw.array() < p_dim
    first_id = rows["first_id"].to_numpy()
    surname_form = rows["surname_form"].to_numpy()
    first = p.first_variants.pick(first_id * 4 + latin * 2 + diminutive, draw.array())
    last = p.surname_variants.pick(surname_form * 2 + latin, draw.array())
    city = p.city_variants.pick(rows["city_id"].to_numpy() * 2 + city_latin, draw.array())
    company_key = rows["company_key"].to_numpy()
    company = companies.pick(np.maximum(company_key, 0) + company_latin, draw.array())
    company = _where(company_key >= 0, company)

    typo_domain = p.email_domain_typos.pick(rows["email_domain"].to_numpy(), draw.array())
    domain = p.email_domains.gather(rows["email_domain"].to_numpy())
    domain = _where(draw.array() < P_EMAIL_DOMAIN_TYPO, typo_domain, domain)
    rows = rows.with_columns(
        _first=first,
        _last=last,
        _city=city,
        _company=company,
        _personal=pl.col("email_local") + "@" + domain,
        _created=pl.from_epoch("created", time_unit="s"),
        _updated=pl.from_epoch("updated", time_unit="s"),
    )
    return rows, draw


def _pick(u: pl.Expr, choices: Sequence[tuple[float, pl.Expr]]) -> pl.Expr:
    """``choices[i][1]`` when ``u`` falls in the i-th cumulative probability band, else null."""
    edge = 0.0
    expr = None
    for probability, value in choices:
        edge += probability
        expr = pl.when(u < edge).then(value) if expr is None else expr.when(u < edge).then(value)
    assert expr is not None
    return expr.otherwise(None)


def _from_pool(values: Sequence[str], draw: _Draws) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather((draw.array() * len(values)).astype(np.int64))


def _sequential_ids(rng: np.random.Generator, n: int, first: int, max_step: int) -> pl.Series:
    return pl.Series(first + np.cumsum(rng.integers(1, max_step + 1, n)) - 1)


def _bitrix24(
    rng: np.random.Generator, p: _Pools, rows: pl.DataFrame, draw: _Draws
) -> pl.DataFrame:
    company = pl.col("_company").is_not_null()
    ids = _sequential_ids(rng, rows.height, BITRIX24_FIRST_ID, 3)
    u_work, u_mob, u_wmail, u_pmail = draw(), draw(), draw(), draw()
    rows = rows.with_columns(
        _patronymic=pl.when(pl.col("russian") & (draw() < P_PATRONYMIC)).then(
            pl.lit(p.patronymics).gather(pl.col("patronymic_key"))
        ),
        _last=pl.when(draw() >= P_MISSING_LAST_NAME).then(pl.col("_last")),
        _work=pl.when(company & (u_work < 0.6))
        .then(pl.col("switchboard"))
        .when(pl.col("home").is_not_null() & (u_work < 0.85))
        .then(pl.col("home"))
        .when(u_work > 0.95)
        .then(pl.col("mobile")),
        _mobile=_pick(u_mob, [(0.82, pl.col("mobile")), (0.08, pl.col("mobile2"))]),
        _work_email=pl.when(company & (u_wmail < 0.45))
        .then(pl.col("work_email"))
        .when(company & (u_wmail < 0.65))
        .then(pl.col("shared_mailbox"))
        .when(u_wmail > 0.92)
        .then(pl.col("_personal")),
        _private_email=pl.when(u_pmail < 0.7).then(pl.col("_personal")),
    )
    rows = _add_noise(
        rows,
        draw,
        names=("_first", "_last"),
        phones=("_work", "_mobile"),
        emails=("_work_email", "_private_email"),
    ).with_columns(_patronymic=_case(pl.col("_patronymic"), draw()))
    exprs = {
        "ID": pl.when(pl.col("bad_kind") == "empty_id").then(None).otherwise(pl.lit(ids)),
        "Имя": pl.col("_first"),
        "Отчество": pl.col("_patronymic"),
        "Фамилия": pl.col("_last"),
        "Рабочий телефон": pl.col("_work"),
        "Мобильный телефон": pl.col("_mobile"),
        "Рабочий e-mail": pl.col("_work_email"),
        "Частный e-mail": pl.col("_private_email"),
        "Компания": pl.when(draw() < P_COMPANY_PRESENT).then(pl.col("_company")),
        "Город": pl.when(draw() < P_CITY_PRESENT).then(pl.col("_city")),
        "Дата создания": pl.col("_created").dt.strftime(BITRIX24_DATETIME),
        "Дата изменения": pl.col("_updated").dt.strftime(BITRIX24_DATETIME),
        "Источник": pl.lit(_from_pool(pools.BITRIX_SOURCES, draw)),
        "Ответственный": pl.lit(_from_pool(pools.BITRIX_RESPONSIBLE, draw)),
        "truth_client_id": pl.col("truth_client_id"),
    }
    return rows.select(*(expr.alias(name) for name, expr in exprs.items()), "bad_kind")


def _hubspot(rng: np.random.Generator, rows: pl.DataFrame, draw: _Draws) -> pl.DataFrame:
    company = pl.col("_company").is_not_null()
    ids = _sequential_ids(rng, rows.height, HUBSPOT_FIRST_ID, 40_000)
    u_phone, u_mob, u_mail = draw(), draw(), draw()
    personal, work, shared = pl.col("_personal"), pl.col("work_email"), pl.col("shared_mailbox")
    rows = rows.with_columns(
        _last=pl.when(draw() >= P_MISSING_LAST_NAME).then(pl.col("_last")),
        _phone=pl.when(company & (u_phone < 0.45))
        .then(pl.col("switchboard"))
        .when(pl.col("home").is_not_null() & (u_phone < 0.7))
        .then(pl.col("home"))
        .when(u_phone < 0.85)
        .then(pl.col("mobile")),
        _mobile=_pick(u_mob, [(0.55, pl.col("mobile")), (0.07, pl.col("mobile2"))]),
        _email=_pick(
            u_mail,
            [
                (0.60, pl.coalesce(personal, work, shared)),
                (0.20, pl.coalesce(work, personal, shared)),
                (0.08, pl.coalesce(shared, work, personal)),
            ],
        ),
    )
    rows = _add_noise(
        rows, draw, names=("_first", "_last"), phones=("_phone", "_mobile"), emails=("_email",)
    )
    exprs = {
        "Record ID": pl.lit(ids),
        "First Name": pl.col("_first"),
        "Last Name": pl.col("_last"),
        "Email": pl.col("_email"),
        "Phone Number": pl.col("_phone"),
        "Mobile Phone Number": pl.col("_mobile"),
        "Company Name": pl.when(draw() < P_COMPANY_PRESENT).then(pl.col("_company")),
        "City": pl.when(draw() < P_CITY_PRESENT).then(pl.col("_city")),
        "Create Date": pl.col("_created").dt.strftime(HUBSPOT_DATETIME),
        "Last Modified Date": pl.col("_updated").dt.strftime(HUBSPOT_DATETIME),
        "Lifecycle Stage": pl.lit(_from_pool(pools.HUBSPOT_LIFECYCLE_STAGES, draw)),
        "Contact owner": pl.lit(_from_pool(pools.HUBSPOT_OWNERS, draw)),
        "truth_client_id": pl.col("truth_client_id"),
    }
    return rows.select(*(expr.alias(name) for name, expr in exprs.items()), "bad_kind")


def _webform(p: _Pools, rows: pl.DataFrame, draw: _Draws) -> pl.DataFrame:
    n = rows.height
    russian = rows["russian"].to_numpy()
    layout_ru = draw.rng.choice(5, n, p=WEBFORM_NAME_LAYOUT_P_RU)
    layout_en = draw.rng.choice(5, n, p=WEBFORM_NAME_LAYOUT_P_EN)
    layout = pl.lit(pl.Series(np.where(russian, layout_ru, layout_en)))
    # the "latin lower-case" layout needs Latin spellings of a Russian client's name
    latin_first = p.first_variants.pick(
        rows["first_id"].to_numpy() * 4 + 2 + (draw.array() < P_WEBFORM_DIMINUTIVE), draw.array()
    )
    latin_last = p.surname_variants.pick(rows["surname_form"].to_numpy() * 2 + 1, draw.array())
    u_phone, u_mail = draw(), draw()
    personal = pl.col("_personal")
    rows = rows.with_columns(
        _phone=pl.coalesce(
            _pick(
                u_phone,
                [(0.85, pl.col("mobile")), (0.08, pl.col("home")), (0.04, pl.col("mobile2"))],
            ),
            pl.col("mobile"),
        ),
        _email=_pick(
            u_mail, [(0.65, personal), (0.10, pl.coalesce(pl.col("work_email"), personal))]
        ),
    )
    # typos and case per name part, whitespace on the whole name below
    rows = rows.with_columns(
        *(_typo(pl.col(c), draw(), draw()).alias(c) for c in ("_first", "_last"))
    )
    rows = _add_noise(
        rows.with_columns(*(_case(pl.col(c), draw()).alias(c) for c in ("_first", "_last"))),
        draw,
        phones=("_phone",),
        emails=("_email",),
    )
    first, last = pl.col("_first"), pl.col("_last")
    patronymic = pl.lit(p.patronymics).gather(pl.col("patronymic_key"))
    sep = pl.when(draw() < P_WHITESPACE).then(pl.lit("  ")).otherwise(pl.lit(" "))
    rows = rows.with_columns(
        _name=pl.when(layout == 0)
        .then(first + sep + last)
        .when(layout == 1)
        .then(last + sep + first)
        .when(layout == 2)
        .then(first)
        .when(layout == 3)
        .then(last + " " + first + " " + patronymic)
        .otherwise((pl.lit(latin_first) + " " + pl.lit(latin_last)).str.to_lowercase())
    )
    exprs = {
        "lead_id": "L-" + pl.lit(pl.Series(np.arange(1, n + 1))).cast(pl.String).str.zfill(6),
        "name": _whitespace(pl.col("_name"), draw()),
        "phone": pl.col("_phone"),
        "email": pl.col("_email"),
        "city": pl.when(draw() < P_WEBFORM_CITY_PRESENT).then(pl.col("_city")),
        "submitted_at": pl.col("_created").dt.strftime(WEBFORM_DATETIME),
        "utm_source": pl.lit(_from_pool(pools.WEBFORM_UTM_SOURCES, draw)),
        "form": pl.lit(_from_pool(pools.WEBFORM_FORMS, draw)),
        "truth_client_id": pl.col("truth_client_id"),
    }
    return rows.select(*(expr.alias(name) for name, expr in exprs.items()), "bad_kind")


# --------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------
def _rewrite_lines(
    source: Path,
    target: Path,
    encoding: str,
    edits: dict[int, Callable[[str], str]],
) -> None:
    """Copy a UTF-8 text file line by line into ``encoding``, editing some lines (0-based)."""
    with (
        source.open("r", encoding="utf-8", newline="") as reader,
        target.open("w", encoding=encoding, newline="", errors="strict") as writer,
    ):
        line_no = 0
        while True:
            chunk = list(itertools.islice(reader, _CHUNK_LINES))
            if not chunk:
                break
            for index in sorted(i for i in edits if line_no <= i < line_no + len(chunk)):
                chunk[index - line_no] = edits[index](chunk[index - line_no])
            writer.write("".join(chunk))
            line_no += len(chunk)
    source.unlink()


def _add_field(line: str) -> str:
    body = line.rstrip("\r\n")
    return body + ";" + EXTRA_FIELD_TEXT + line[len(body) :]


def _truncate(line: str) -> str:
    body = line.rstrip("\n")
    cut = max(10, len(body) // 2)
    return body[:cut] + "\n"


def _bad_lines(frame: pl.DataFrame, source: str, id_column: str, header_lines: int) -> list[BadRow]:
    bad = frame.with_row_index("_row").filter(pl.col("bad_kind").is_not_null())
    ids = bad[id_column].cast(pl.String).to_list()
    return [
        BadRow(source=source, line=row + header_lines + 1, kind=kind, record_id=record_id)
        for row, kind, record_id in zip(
            bad["_row"].to_list(), bad["bad_kind"].to_list(), ids, strict=True
        )
    ]


def n_spam_leads_for(n_clients: int) -> int:
    """Number of bot-written web-form leads for ``n_clients`` clients."""
    return max(MIN_SPAM_LEADS, n_clients // CLIENTS_PER_SPAM_LEAD)


def _spam_leads(rng: np.random.Generator, n: int, *, first_lead: int) -> pl.DataFrame:
    """Web-form leads typed by bots: made-up names, impossible phones, throw-away mail."""

    def pick(values: Sequence[str]) -> pl.Series:
        return pl.Series(values, dtype=pl.String).gather(rng.integers(0, len(values), n))

    local = pl.Series(
        ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 8)) for _ in range(n)]
    )
    email = local + "@" + pick(pools.SPAM_EMAIL_DOMAINS)
    # Some bots leave the address half-typed.
    email = _where(rng.random(n) < 0.2, local + "@", email)
    submitted = pl.Series(
        rng.integers(int(FIRST_SEEN_FROM.timestamp()), int(EXPORTED_AT.timestamp()), n) * 1_000_000,
        dtype=pl.Datetime("us"),
    )
    ids = np.arange(first_lead, first_lead + n)
    return pl.DataFrame(
        {
            "lead_id": pl.Series("L-" + pl.Series(ids).cast(pl.String).str.zfill(6)),
            "name": pick(pools.SPAM_NAMES),
            "phone": pick(pools.SPAM_PHONES),
            "email": email,
            "city": pl.Series([None] * n, dtype=pl.String),
            "submitted_at": submitted.dt.strftime(WEBFORM_DATETIME),
            "utm_source": pick(pools.WEBFORM_UTM_SOURCES),
            "form": pick(pools.WEBFORM_FORMS),
            "truth_client_id": "S" + pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(6),
            "bad_kind": pl.Series([None] * n, dtype=pl.String),
        }
    ).with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in ("name", "phone"))


def generate_sample(
    out_dir: Path, *, n_clients: int = 1500, seed: int = 7, ru_share: float = 0.7
) -> SampleFiles:
    """Write exports of the same clients from Bitrix24, HubSpot and a web form.

    Parameters
    ----------
    out_dir
        Directory to write into (created if missing). Existing sample files are replaced.
    n_clients
        Number of distinct clients; each has one to four records (about two on average).
    seed
        Random seed. The same arguments give byte-identical files.
    ru_share
        Share of Russian-speaking clients; the rest are US/UK clients.

    Returns
    -------
    SampleFiles
        The paths written, good records per source and the deliberately broken rows.

    Raises
    ------
    ValueError
        If ``n_clients`` is below 1 or ``ru_share`` is outside ``[0, 1]``.

    Notes
    -----
    Files written: ``bitrix24_contacts.csv`` (cp1251, ``;``, CRLF), ``hubspot_contacts.csv``
    (UTF-8 with BOM, ``,``), ``webform_leads.jsonl`` (one JSON object a line) and
    ``truth.csv`` (``record_id,client_id`` with record ids ``<source>:<source_record_id>``).
    Every export row also carries its client in ``truth_client_id``. The web form ends
    with leads typed by bots (`n_spam_leads_for`), each its own client. Broken rows (an empty
    ``ID`` and an extra field in Bitrix24, a truncated JSON line in the web form) are left
    out of ``truth.csv`` and listed in `SampleFiles.bad_rows`.

    Examples
    --------
    >>> files = generate_sample(Path("data/sample"), n_clients=1500, seed=7)  # doctest: +SKIP
    >>> files.n_records  # doctest: +SKIP
    2980
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, got {n_clients}")
    if not 0.0 <= ru_share <= 1.0:
        raise ValueError(f"ru_share must be within [0, 1], got {ru_share}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    p = _pools()
    n_bad = n_bad_rows_for(n_clients)

    clients, companies = _draw_clients(rng, p, n_clients, ru_share)
    records = _draw_records(rng, clients, n_bad)
    frames: dict[str, pl.DataFrame] = {}
    for source in SOURCES:
        rows, draw = _source_frame(rng, p, records, clients, companies, source)
        if source == "bitrix24":
            frames[source] = _bitrix24(rng, p, rows, draw)
        elif source == "hubspot":
            frames[source] = _hubspot(rng, rows, draw)
        else:
            leads = _webform(p, rows, draw)
            # Drawn from a stream of their own: the clients' records stay as they were.
            spam = _spam_leads(
                np.random.default_rng([seed, 1]),
                n_spam_leads_for(n_clients),
                first_lead=leads.height + 1,
            )
            frames[source] = pl.concat([leads, spam.cast(leads.schema)])  # type: ignore[arg-type]
    del records, clients

    paths = {
        "bitrix24": out_dir / BITRIX24_FILE,
        "hubspot": out_dir / HUBSPOT_FILE,
        "webform": out_dir / WEBFORM_FILE,
        "truth": out_dir / TRUTH_FILE,
    }
    bad_rows = [
        *_bad_lines(frames["bitrix24"], "bitrix24", "ID", header_lines=1),
        *_bad_lines(frames["webform"], "webform", "lead_id", header_lines=0),
    ]

    bitrix = frames["bitrix24"]
    edits = {
        row.line - 1: _add_field for row in bad_rows if row.kind == "extra_field"
    }  # 0-based line in the file, header included
    tmp = paths["bitrix24"].with_name(paths["bitrix24"].name + ".tmp")
    bitrix.drop("bad_kind").write_csv(tmp, separator=";", line_terminator="\r\n")
    _rewrite_lines(tmp, paths["bitrix24"], "cp1251", edits)

    frames["hubspot"].drop("bad_kind").write_csv(paths["hubspot"], include_bom=True)

    tmp = paths["webform"].with_name(paths["webform"].name + ".tmp")
    frames["webform"].drop("bad_kind").write_ndjson(tmp)
    edits = {row.line - 1: _truncate for row in bad_rows if row.kind == "invalid_json"}
    _rewrite_lines(tmp, paths["webform"], "utf-8", edits)

    id_columns = {"bitrix24": "ID", "hubspot": "Record ID", "webform": "lead_id"}
    truth = pl.concat(
        [
            frame.filter(pl.col("bad_kind").is_null()).select(
                record_id=pl.lit(f"{source}:") + pl.col(id_columns[source]).cast(pl.String),
                client_id=pl.col("truth_client_id"),
            )
            for source, frame in frames.items()
        ]
    )
    truth.write_csv(paths["truth"])
    counts = {source: int(frame["bad_kind"].is_null().sum()) for source, frame in frames.items()}
    return SampleFiles(
        bitrix24=paths["bitrix24"],
        hubspot=paths["hubspot"],
        webform=paths["webform"],
        truth=paths["truth"],
        records=counts,
        n_clients=n_clients,
        bad_rows=tuple(bad_rows),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m dedup_pipeline.samples --out data/sample --clients 1500``.

    Parameters
    ----------
    argv
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        Process exit status (0 on success).
    """
    parser = argparse.ArgumentParser(
        prog="python -m dedup_pipeline.samples",
        description="Write realistic Bitrix24/HubSpot/web-form exports of the same clients.",
    )
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output directory")
    parser.add_argument("--clients", type=int, default=1500, help="number of distinct clients")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--ru-share", type=float, default=0.7, help="share of Russian-speaking clients"
    )
    args = parser.parse_args(argv)
    files = generate_sample(
        args.out, n_clients=args.clients, seed=args.seed, ru_share=args.ru_share
    )
    per_source = ", ".join(f"{source} {count}" for source, count in files.records.items())
    print(
        f"wrote {files.n_records} records of {files.n_clients} clients "
        f"({per_source}) and {files.n_bad_rows} bad rows to {args.out}"
    )
    for name, path in files.paths.items():
        print(f"  {name}: {path}")
    for bad in files.bad_rows:
        print(f"  bad row: {bad.source} line {bad.line} ({bad.kind}, id {bad.record_id})")
    return 0
