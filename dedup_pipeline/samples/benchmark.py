"""A CRM benchmark generator with settings along the axes that break matchers.

`generate_benchmark` draws clients and writes one mixed contact export (``full_name``,
``phone``, ``email``, ``company``, ``city``, ``created_at`` and the truth column
``truth_client_id``), the shape a CRM's own export or a merged lead feed has. Every
difficulty is a setting of `BenchmarkSettings`, so an accuracy figure can be read as a
function of the data rather than of one sample:

- ``new_identifiers``: the share of a client's later records that come with a second
  mobile and a new e-mail (a work address when the client has a company), so that only
  names, company, mail domain and city tie them to the first;
- ``surname_first``: full names written "Surname First [Patronymic]";
- ``typos``: the chance that each name token carries one typo;
- ``patronymic``: the share of records that write the patronymic;
- ``name_zipf`` and ``surname_pool``: how skewed name frequencies are (namesakes);
- ``single_name``: records with a first name only ("Саша", "Ирина Викторовна");
- ``latin``: records romanised in one of several schemes;
- ``diminutive``: first names written as diminutives ("Лёша" for "Алексей").

Hard negatives come from the population itself: namesakes (Zipf-Mandelbrot weights over
the name lists), family members sharing a surname, a home phone and sometimes a family
mailbox, a son named after his father (same first name and surname, same home phone, only
the patronymic differs), and colleagues sharing a switchboard and an ``info@`` mailbox.

The pools (`benchmark_pools`) are not the matcher's tables: diminutives it does not list,
a synthetic tail of surnames nobody has listed, non-Slavic names. Draws are numpy arrays
and polars expressions; Python touches only distinct values and the few tokens that get a
typo. The same settings give byte-identical files.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dedup_pipeline.samples import benchmark_pools as pools

__all__ = [
    "BENCHMARK_FILE",
    "TRUTH_COLUMN",
    "BenchmarkSettings",
    "generate_benchmark",
    "main",
    "matrix_settings",
]

BENCHMARK_FILE = "contacts.csv"
TRUTH_COLUMN = "truth_client_id"
EXPORT_COLUMNS = ("record_id", "full_name", "phone", "email", "company", "city", "created_at")

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_SPAN_DAYS = 6 * 365


@dataclass(frozen=True)
class BenchmarkSettings:
    """One cell of the accuracy matrix. Shares are per record unless said otherwise.

    Attributes
    ----------
    clients
        People drawn (records are about 2.1 per client, at every size).
    seed
        Random seed; the same settings give the same file.
    new_identifiers
        Share of a client's later records that come with a second mobile and another
        e-mail instead of the first ones.
    surname_first
        Share of full names written surname first.
    typos
        Chance of one typo in each name token.
    patronymic
        Share of records (of clients who have one) that write the patronymic.
    name_zipf
        Exponent of the Zipf-Mandelbrot weights over first names and surnames; higher
        means more namesakes.
    surname_pool
        Distinct surnames: the real list, then a synthetic tail.
    single_name
        Share of records with a first name only (with the patronymic at times).
    latin
        Share of records romanised.
    diminutive
        Share of first names written as a diminutive.
    company
        Share of clients who work at a company (colleagues share its switchboard).
    family
        Share of clients who are a family member of another client.
    """

    clients: int = 2_000
    seed: int = 1
    new_identifiers: float = 0.3
    surname_first: float = 0.35
    typos: float = 0.04
    patronymic: float = 0.4
    name_zipf: float = 1.0
    surname_pool: int = 5_000
    single_name: float = 0.06
    latin: float = 0.2
    diminutive: float = 0.2
    company: float = 0.45
    family: float = 0.06

    def label(self, base: BenchmarkSettings | None = None) -> str:
        """Short name of the settings that differ from ``base`` (default settings)."""
        base = base or BenchmarkSettings(clients=self.clients, seed=self.seed)
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name not in ("clients", "seed") and getattr(self, f.name) != getattr(base, f.name)
        ]
        return ",".join(changed) or "default"


#: Records per client: 1..5 (mean 2.1).
RECORDS_PER_CLIENT_P = (0.42, 0.30, 0.15, 0.08, 0.05)
#: A son named after his father, among family members.
P_NAMED_AFTER_FATHER = 0.2
P_SECOND_MOBILE = 0.35
P_FAMILY_MAILBOX = 0.3
MEAN_COLLEAGUES = 3.0
P_PHONE = 0.85
P_EMAIL = 0.7
P_COMPANY_SHOWN = 0.55
P_CITY_SHOWN = 0.6
P_SWITCHBOARD = 0.12
P_INFO_MAILBOX = 0.06
P_UPPER = 0.08
P_LOWER = 0.08
P_INITIALS = 0.04
P_WESTERN = 0.3  # of romanised first names with a Western form
P_EMAIL_TYPO = 0.02
#: A later record from another city (the client moved, or wrote the office's city).
P_OTHER_CITY = 0.06


def matrix_settings(clients: int, seeds: tuple[int, ...] = (1, 2)) -> list[BenchmarkSettings]:
    """The generator settings of the accuracy matrix: the default and one axis at a time."""
    variations: list[dict[str, Any]] = [
        {},
        {"new_identifiers": 0.5},
        {"new_identifiers": 0.1},
        {"surname_first": 0.7},
        {"typos": 0.12},
        {"patronymic": 0.0},
        {"patronymic": 0.8},
        {"name_zipf": 1.3, "surname_pool": 800},
        {"single_name": 0.2},
        {"latin": 0.5},
        {"diminutive": 0.45},
    ]
    return [
        BenchmarkSettings(clients=clients, seed=seed, **variation)
        for variation in variations
        for seed in seeds
    ]


# --------------------------------------------------------------------------------------
# Pools as arrays.
# --------------------------------------------------------------------------------------
def _zipf(n: int, exponent: float, offset: float) -> np.ndarray:
    weights = 1.0 / (np.arange(1, n + 1) + offset) ** exponent
    return weights / weights.sum()


def _surnames(pool: int) -> list[str]:
    """``pool`` masculine surnames: the real list, then distinct synthetic ones."""
    names = list(dict.fromkeys(pools.SURNAMES))
    syllables, middles, endings = (
        pools.SURNAME_SYLLABLES,
        pools.SURNAME_MIDDLES,
        pools.SURNAME_ENDINGS,
    )
    synthetic = [
        f"{a}{b.lower()}{m}{e}" if b != a else f"{a}{m}{e}"
        for e in endings
        for m in middles
        for a in syllables
        for b in syllables[::7]
    ]
    rng = np.random.default_rng(20261204)
    seen = set(names)
    for name in rng.permutation(np.array(synthetic, dtype=object)):
        if len(names) >= pool:
            break
        if name not in seen:
            seen.add(name)
            names.append(str(name))
    return names[:pool]


def _first_name_frame(female: bool) -> pl.DataFrame:
    table = pools.FEMALE_NAMES if female else pools.MALE_NAMES
    return pl.DataFrame(
        {
            "name": [name for name, _ in table],
            "short": [list(shorts) for _, shorts in table],
        }
    )


# --------------------------------------------------------------------------------------
# Clients.
# --------------------------------------------------------------------------------------
def _mobiles(rng: np.random.Generator, n: int, taken: np.ndarray) -> np.ndarray:
    """``n`` distinct ten-digit mobile numbers (without +7) not in ``taken``, in the order
    drawn."""
    codes = np.array(pools.MOBILE_CODES)
    out = np.array([], dtype=str)
    while len(out) < n:
        need = n - len(out)
        drawn = np.char.add(
            codes[rng.integers(0, len(codes), need)],
            np.char.zfill(rng.integers(0, 10_000_000, need).astype(str), 7),
        )
        _, first = np.unique(drawn, return_index=True)
        fresh = drawn[np.sort(first)]
        fresh = fresh[~np.isin(fresh, taken) & ~np.isin(fresh, out)]
        out = np.concatenate([out, fresh])
    return out[:n]


def _landlines(rng: np.random.Generator, n: int) -> np.ndarray:
    codes = np.array(pools.LANDLINE_CODES)
    return np.char.add(
        codes[rng.integers(0, len(codes), n)],
        np.char.add(
            rng.integers(2, 10, n).astype(str),  # local numbers do not start with 0 or 1
            np.char.zfill(rng.integers(0, 1_000_000, n).astype(str), 6),
        ),
    )


def _draw_clients(rng: np.random.Generator, s: BenchmarkSettings) -> pl.DataFrame:
    n = s.clients
    male, female = _first_name_frame(False), _first_name_frame(True)
    surnames = _surnames(s.surname_pool)
    is_female = rng.random(n) < 0.5
    first_m = rng.choice(male.height, n, p=_zipf(male.height, s.name_zipf, 2))
    first_f = rng.choice(female.height, n, p=_zipf(female.height, s.name_zipf, 2))
    father = rng.choice(male.height, n, p=_zipf(male.height, s.name_zipf, 2))
    surname = rng.choice(len(surnames), n, p=_zipf(len(surnames), s.name_zipf, 10))
    city = rng.choice(len(pools.CITIES), n, p=_zipf(len(pools.CITIES), 1.1, 1))

    # Family members copy another client's surname, city and home phone.
    is_member = rng.random(n) < s.family
    is_member[0] = False
    head = np.where(is_member, rng.integers(0, np.maximum(1, np.arange(n)), n), np.arange(n))
    for _ in range(64):  # a member's head may be a member: follow to the family's root
        if (head[head] == head).all():
            break
        head = head[head]
    surname = surname[head]
    city = city[head]
    named_after = is_member & ~is_female[head] & (rng.random(n) < P_NAMED_AFTER_FATHER)
    is_female = np.where(named_after, False, is_female)
    first_m = np.where(named_after, first_m[head], first_m)
    father = np.where(named_after, first_m[head], father)

    male_names = male.get_column("name").to_numpy()
    female_names = female.get_column("name").to_numpy()
    first = np.where(is_female, female_names[first_f], male_names[first_m])
    father_name = male_names[father]
    base_surname = np.array(surnames, dtype=object)[surname]

    mobile = _mobiles(rng, n, np.array([], dtype=str))
    mobile2 = _mobiles(rng, n, mobile)

    has_second = rng.random(n) < P_SECOND_MOBILE
    has_home = np.zeros(n, dtype=bool)
    has_home[head[is_member]] = True
    has_home |= is_member
    home = _landlines(rng, n)[head]
    family_mailbox = (rng.random(n) < P_FAMILY_MAILBOX)[head] & has_home

    # Companies: Zipf-sized teams; colleagues share a switchboard and an info@ box.
    works = rng.random(n) < s.company
    n_companies = max(1, int(works.sum() / MEAN_COLLEAGUES))
    company = np.where(works, rng.choice(n_companies, n, p=_zipf(n_companies, 1.0, 3)), -1)
    return pl.DataFrame(
        {
            "client": np.arange(n),
            "female": is_female,
            "first": first.astype(str),
            "father": father_name.astype(str),
            "surname": base_surname.astype(str),
            "city": city,
            "head": head,
            "mobile": mobile,
            "new_mobile": mobile2,
            "_has_second": has_second,
            "_home": home,
            "_has_home": has_home,
            "family_mailbox": family_mailbox,
            "_company": company,
        }
    ).select(
        pl.exclude("^_.*$"),
        mobile2=pl.when("_has_second").then("new_mobile"),
        home=pl.when("_has_home").then("_home"),
        company=pl.when(pl.col("_company") >= 0).then("_company"),
    )


def _companies(rng: np.random.Generator, n: int) -> pl.DataFrame:
    words = np.array(pools.COMPANY_WORDS)
    a = words[rng.integers(0, len(words), n)]
    b = words[rng.integers(0, len(words), n)]
    style = rng.integers(0, 3, n)
    brand = np.where(
        style == 0, a, np.where(style == 1, np.char.add(np.char.add(a, "-"), b), np.char.add(a, b))
    )
    frame = pl.DataFrame(
        {
            "company": np.arange(n),
            "brand": brand,
            "legal": np.array(pools.LEGAL_FORMS)[rng.integers(0, len(pools.LEGAL_FORMS), n)],
            "switchboard": _landlines(rng, n),
        }
    )
    # Brands repeat ("Альфа" twice); the domain carries the company number then.
    domain = _roman_lower(frame.get_column("brand"), "simple").str.replace_all(r"[^a-z]", "")
    frame = frame.with_columns(domain=domain)
    frame = frame.with_columns(
        domain=pl.when(pl.int_range(pl.len()).over("domain") > 0)
        .then(pl.format("{}{}", "domain", pl.col("company")))
        .otherwise("domain")
        + pl.lit(".ru")
    )
    return frame


# --------------------------------------------------------------------------------------
# Text helpers over distinct values.
# --------------------------------------------------------------------------------------
def _mapped(values: pl.Series, function) -> pl.Series:
    """``function`` applied once per distinct value."""
    distinct = values.drop_nulls().unique()
    table = dict(zip(distinct.to_list(), map(function, distinct.to_list()), strict=True))
    return values.replace_strict(table, default=None, return_dtype=pl.String)


def _roman_lower(values: pl.Series, scheme: str) -> pl.Series:
    return _mapped(values, lambda v: pools.romanize(v, scheme).lower())


_CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
_LATIN = "abcdefghijklmnoprstuvyz"


def _typo(token: str, op: int, where: float, letter: float) -> str:
    """One typo: a letter replaced, dropped, doubled or swapped with the next."""
    if len(token) < 3:
        return token
    i = 1 + int(where * (len(token) - 2))  # the first letter is rarely mistyped
    alphabet = _CYRILLIC if any("а" <= c.lower() <= "я" for c in token) else _LATIN
    if op == 0:
        new = alphabet[int(letter * len(alphabet))]
        return token[:i] + (new.upper() if token[i].isupper() else new) + token[i + 1 :]
    if op == 1:
        return token[:i] + token[i + 1 :]
    if op == 2:
        return token[:i] + token[i] + token[i:]
    if i + 1 < len(token):
        return token[:i] + token[i + 1] + token[i] + token[i + 2 :]
    return token[:i] + token[i:][::-1]


def _with_typos(rng: np.random.Generator, values: pl.Series, p: float) -> pl.Series:
    hit = (rng.random(values.len()) < p) & values.is_not_null().to_numpy()
    if not hit.any():
        return values
    ops, wheres, letters = (
        rng.integers(0, 4, values.len()),
        rng.random(values.len()),
        rng.random(values.len()),
    )
    out = values.to_list()
    for i in np.flatnonzero(hit):
        out[i] = _typo(out[i], int(ops[i]), float(wheres[i]), float(letters[i]))
    return pl.Series(values.name, out, dtype=pl.String)


# --------------------------------------------------------------------------------------
# Records.
# --------------------------------------------------------------------------------------
def _phone_text(national: pl.Expr, style: pl.Expr) -> pl.Expr:
    """A ten-digit national number written the ways CRMs receive it."""
    a, b, c, d = (national.str.slice(i, n) for i, n in ((0, 3), (3, 3), (6, 2), (8, 2)))
    return (
        pl.when(style == 0).then(pl.format("+7 ({}) {}-{}-{}", a, b, c, d))
        .when(style == 1).then(pl.format("8 ({}) {}-{}-{}", a, b, c, d))
        .when(style == 2).then(pl.format("8{}", national))
        .when(style == 3).then(pl.format("+7{}", national))
        .when(style == 4).then(pl.format("7{}", national))
        .when(style == 5).then(pl.format("8-{}-{}-{}-{}", a, b, c, d))
        .when(style == 6).then(pl.format("+7 {} {} {} {}", a, b, c, d))
        .otherwise(pl.format("{} {}-{}-{}", a, b, c, d))
    )  # fmt: skip


def _mail_local(first: pl.Expr, last: pl.Expr, pattern: pl.Expr, digits: pl.Expr) -> pl.Expr:
    f0 = first.str.slice(0, 1)
    return (
        pl.when(pattern == 0).then(pl.format("{}.{}", first, last))
        .when(pattern == 1).then(pl.format("{}{}", f0, last))
        .when(pattern == 2).then(pl.format("{}.{}", last, first))
        .when(pattern == 3).then(pl.format("{}{}{}", first, last, digits))
        .when(pattern == 4).then(pl.format("{}{}", last, digits))
        .when(pattern == 5).then(pl.format("{}_{}", first, last))
        .when(pattern == 6).then(pl.format("{}.{}", f0, last))
        .when(pattern == 7).then(pl.format("{}{}", first, digits))
        .otherwise(pl.format("{}{}", pl.col("_nick"), digits))
    )  # fmt: skip


def _unique_addresses(frame: pl.DataFrame, columns: list[str], owner: str) -> pl.DataFrame:
    """Give each owner its own addresses: a provider hands a mailbox to one person."""
    long = (
        frame.select(owner, *columns)
        .unique(owner)
        .unpivot(index=owner, on=columns, variable_name="slot", value_name="address")
    )
    rank = pl.col(owner).rank("dense").over("address") - 1
    parts = pl.col("address").str.split("@")
    long = long.with_columns(
        address=pl.when(pl.col("address").is_not_null() & (rank > 0))
        .then(pl.format("{}{}@{}", parts.list.first(), rank, parts.list.last()))
        .otherwise("address")
    )
    wide = long.pivot(on="slot", index=owner, values="address")
    return frame.drop(columns).join(wide, on=owner, how="left")


def _emails(
    rng: np.random.Generator, clients: pl.DataFrame, companies: pl.DataFrame
) -> pl.DataFrame:
    n = clients.height
    domains, weights = zip(*pools.FREE_MAIL_DOMAINS, strict=True)
    weights = np.array(weights) / sum(weights)
    first = _roman_lower(clients.get_column("first"), "simple").str.replace_all(r"[^a-z]", "")
    own = clients.select(pl.when("female").then("surname_f").otherwise("surname")).to_series()
    last = _roman_lower(own, "simple").str.replace_all(r"[^a-z]", "")
    frame = clients.select("client", "company", "head", "family_mailbox").with_columns(
        _first=first,
        _last=last,
        _nick=pl.Series(
            np.array(pools.NICKNAME_WORDS)[rng.integers(0, len(pools.NICKNAME_WORDS), n)]
        ),
        _p1=pl.Series(rng.integers(0, 9, n)),
        _p2=pl.Series(rng.integers(0, 9, n)),
        _d1=pl.Series(rng.integers(70, 100, n).astype(str)),
        _d2=pl.Series(rng.integers(1, 2025, n).astype(str)),
        _dom1=pl.Series(np.array(domains)[rng.choice(len(domains), n, p=weights)]),
        _dom2=pl.Series(np.array(domains)[rng.choice(len(domains), n, p=weights)]),
        _work=pl.Series(rng.integers(0, 4, n)),
    )
    frame = frame.join(companies.select("company", "domain"), on="company", how="left")
    f, l_ = pl.col("_first"), pl.col("_last")
    work_local = (
        pl.when(pl.col("_work") == 0).then(pl.format("{}.{}", f.str.slice(0, 1), l_))
        .when(pl.col("_work") == 1).then(l_)
        .when(pl.col("_work") == 2).then(pl.format("{}.{}", f, l_))
        .otherwise(f)
    )  # fmt: skip
    frame = frame.with_columns(
        email=pl.format("{}@{}", _mail_local(f, l_, pl.col("_p1"), pl.col("_d1")), "_dom1"),
        # The second address: at work when there is a company, else another mailbox.
        email2=pl.when(pl.col("domain").is_not_null())
        .then(pl.format("{}@{}", work_local, "domain"))
        .otherwise(
            pl.format(
                "{}@{}",
                _mail_local(f, l_, (pl.col("_p1") + 1 + pl.col("_p2") % 8) % 9, pl.col("_d2")),
                "_dom2",
            )
        ),
    )
    frame = _unique_addresses(frame, ["email", "email2"], "client")
    # Family mailboxes belong to the head's surname and are shared by the family.
    family = pl.format(
        "{}.{}@{}",
        pl.col("_last"),
        pl.lit(pools.FAMILY_MAIL_WORDS[0]),
        pl.col("_dom1"),
    )
    heads = frame.select(head="client", family_email=family)
    frame = frame.join(_unique_addresses(heads, ["family_email"], "head"), on="head", how="left")
    return frame.select(
        "client",
        "email",
        "email2",
        family_email=pl.when(pl.col("family_mailbox")).then("family_email"),
        info_email=pl.when(pl.col("domain").is_not_null()).then(pl.format("info@{}", "domain")),
    )


def _records(rng: np.random.Generator, clients: pl.DataFrame, s: BenchmarkSettings) -> pl.DataFrame:
    counts = rng.choice(len(RECORDS_PER_CLIENT_P), clients.height, p=RECORDS_PER_CLIENT_P) + 1
    records = clients.select(pl.col("client").repeat_by(pl.Series(counts)).alias("client")).explode(
        "client"
    )
    records = records.with_columns(k=pl.int_range(pl.len()).over("client"))
    n = records.height
    u = {name: pl.Series(rng.random(n)) for name in (
        "new", "phone", "email", "which_phone", "which_email", "company", "city", "order",
        "patr", "single", "latin", "dim", "case", "initials", "western", "city_text", "moved",
    )}  # fmt: skip
    return records.with_columns(
        returning_new=(pl.col("k") > 0) & (u["new"] < s.new_identifiers),
        **{f"_u_{name}": series for name, series in u.items()},
        _phone_style=pl.Series(rng.integers(0, 8, n)),
        _company_style=pl.Series(rng.integers(0, 6, n)),
        _scheme=pl.Series(rng.integers(0, 3, n)),
        _dim_pick=pl.Series(rng.random(n)),
        _city_pick=pl.Series(rng.random(n)),
        created_days=pl.Series(rng.integers(0, _SPAN_DAYS, n)),
        created_seconds=pl.Series(rng.integers(0, 86_400, n)),
    )


def _names(rng: np.random.Generator, rows: pl.DataFrame, s: BenchmarkSettings) -> pl.Series:
    """The full name each record writes."""
    male, female = _first_name_frame(False), _first_name_frame(True)
    shorts = pl.concat([male, female]).unique("name")
    rows = rows.join(shorts.rename({"name": "first"}), on="first", how="left")
    has_short = pl.col("short").list.len() > 0
    pick = (pl.col("_dim_pick") * pl.col("short").list.len()).floor().cast(pl.Int32)
    first = (
        pl.when(has_short & (pl.col("_u_dim") < s.diminutive))
        .then(pl.col("short").list.get(pick, null_on_oob=True))
        .otherwise(pl.col("first"))
    )
    surname = pl.when(pl.col("female")).then(pl.col("surname_f")).otherwise(pl.col("surname"))
    patr = pl.when(pl.col("female")).then(pl.col("patr_f")).otherwise(pl.col("patr_m"))
    rows = rows.with_columns(_first=first, _last=surname, _patr=patr)

    latin = pl.col("_u_latin") < s.latin
    columns = [rows.get_column(c) for c in ("_first", "_last", "_patr")]
    schemes = ("icao", "bgn", "informal")
    romanised = [
        [_mapped(col, lambda v, sc=scheme: pools.romanize(v, sc)) for col in columns]
        for scheme in schemes
    ]
    western = _mapped(rows.get_column("first"), lambda v: pools.WESTERN_FORMS.get(v))

    def romanised_column(j: int, name: str) -> pl.Expr:
        expr = pl.when(~latin).then(pl.col(name))
        for i in range(len(schemes)):
            expr = expr.when(pl.col("_scheme") == i).then(romanised[i][j])
        return expr.otherwise(pl.col(name)).alias(name)

    rows = rows.with_columns(
        romanised_column(j, name) for j, name in enumerate(("_first", "_last", "_patr"))
    )
    rows = rows.with_columns(
        _first=pl.when(latin & (pl.col("_u_western") < P_WESTERN) & western.is_not_null())
        .then(western)
        .otherwise("_first")
    )
    rows = rows.with_columns(
        _first=_with_typos(rng, rows.get_column("_first"), s.typos),
        _last=_with_typos(rng, rows.get_column("_last"), s.typos),
        _patr=_with_typos(rng, rows.get_column("_patr"), s.typos),
    )
    show_patr = pl.col("_u_patr") < s.patronymic
    single = pl.col("_u_single") < s.single_name
    surname_first = pl.col("_u_order") < s.surname_first
    initials = pl.col("_u_initials") < P_INITIALS
    f, last, p = pl.col("_first"), pl.col("_last"), pl.col("_patr")
    name = (
        pl.when(single & show_patr).then(pl.format("{} {}", f, p))
        .when(single).then(f)
        .when(initials & show_patr)
        .then(pl.format("{} {}. {}.", last, f.str.slice(0, 1), p.str.slice(0, 1)))
        .when(initials).then(pl.format("{} {}.", last, f.str.slice(0, 1)))
        .when(surname_first & show_patr).then(pl.format("{} {} {}", last, f, p))
        .when(surname_first).then(pl.format("{} {}", last, f))
        .when(show_patr).then(pl.format("{} {} {}", f, p, last))
        .otherwise(pl.format("{} {}", f, last))
    )  # fmt: skip
    cased = (
        pl.when(pl.col("_u_case") < P_UPPER).then(name.str.to_uppercase())
        .when(pl.col("_u_case") < P_UPPER + P_LOWER).then(name.str.to_lowercase())
        .otherwise(name)
    )  # fmt: skip
    return rows.select(cased.alias("full_name")).to_series()


def _company_text() -> pl.Expr:
    brand, legal, style = pl.col("brand"), pl.col("legal"), pl.col("_company_style")
    return (
        pl.when(style == 0).then(pl.format("{} «{}»", legal, brand))
        .when(style == 1).then(pl.format('{} "{}"', legal, brand))
        .when(style == 2).then(brand)
        .when(style == 3).then(brand.str.to_uppercase())
        .when(style == 4).then(pl.format("{} {}", brand, legal))
        .otherwise(pl.format("{} {}", legal, brand.str.replace_all("-", " ")))
    )  # fmt: skip


def generate_benchmark(out_dir: Path, settings: BenchmarkSettings | None = None) -> Path:
    """Write one benchmark export and return its path.

    Parameters
    ----------
    out_dir
        Directory to write ``contacts.csv`` (UTF-8, comma-separated) into.
    settings
        The difficulty settings; the defaults when omitted.

    Returns
    -------
    pathlib.Path
        The export, with the true client in column ``truth_client_id``.
    """
    s = settings or BenchmarkSettings()
    rng = np.random.default_rng(s.seed)
    clients = _draw_clients(rng, s)
    companies = _companies(rng, max(1, int(clients.get_column("company").max() or 0) + 1))
    clients = clients.with_columns(
        surname_f=_mapped(clients.get_column("surname"), pools.feminine_surname),
        patr_m=_mapped(clients.get_column("father"), lambda v: pools.patronymic(v, female=False)),
        patr_f=_mapped(clients.get_column("father"), lambda v: pools.patronymic(v, female=True)),
    )
    clients = clients.join(_emails(rng, clients, companies), on="client")
    rows = (
        _records(rng, clients, s)
        .join(clients, on="client", how="left")
        .join(companies, on="company", how="left")
    )
    has_company = pl.col("brand").is_not_null()
    new = pl.col("returning_new")

    # Phones: the first mobile, or the second one on a return with new identifiers; some
    # records give the office switchboard or the family's home phone.
    phone_number = (
        pl.when(new).then(pl.coalesce("mobile2", "new_mobile"))
        .when(has_company & (pl.col("_u_which_phone") < P_SWITCHBOARD)).then("switchboard")
        .when(pl.col("home").is_not_null() & (pl.col("_u_which_phone") < 0.3)).then("home")
        .when(pl.col("mobile2").is_not_null() & (pl.col("_u_which_phone") > 0.85))
        .then("mobile2")
        .otherwise("mobile")
    )  # fmt: skip
    email_address = (
        pl.when(new).then("email2")
        .when(has_company & (pl.col("_u_which_email") < P_INFO_MAILBOX)).then("info_email")
        .when(pl.col("family_email").is_not_null() & (pl.col("_u_which_email") < 0.35))
        .then("family_email")
        .when(has_company & (pl.col("_u_which_email") > 0.75)).then("email2")
        .otherwise("email")
    )  # fmt: skip
    cities = pl.DataFrame(
        {
            "city": range(len(pools.CITIES)),
            "city_name": [name for name, _ in pools.CITIES],
            "city_other": [list(other) for _, other in pools.CITIES],
        }
    )
    moved = (pl.col("k") > 0) & (pl.col("_u_moved") < P_OTHER_CITY)
    rows = rows.with_columns(
        city=pl.when(moved)
        .then((pl.col("city") + 1 + (pl.col("_city_pick") * 5).cast(pl.Int64)) % len(pools.CITIES))
        .otherwise("city")
    ).join(cities, on="city", how="left")
    other = (pl.col("_city_pick") * pl.col("city_other").list.len()).floor().cast(pl.Int32)
    rows = rows.with_columns(
        full_name=_names(rng, rows, s),
        # A lead always leaves a way back: a phone when there is no e-mail.
        phone=pl.when((pl.col("_u_phone") < P_PHONE) | (pl.col("_u_email") >= P_EMAIL)).then(
            _phone_text(phone_number, pl.col("_phone_style"))
        ),
        email=pl.when(pl.col("_u_email") < P_EMAIL).then(
            pl.when(pl.col("_u_case") > 0.95)
            .then(email_address.str.to_uppercase())
            .otherwise(email_address)
        ),
        company=pl.when(has_company & (pl.col("_u_company") < P_COMPANY_SHOWN)).then(
            _company_text()
        ),
        city=pl.when(pl.col("_u_city") < P_CITY_SHOWN).then(
            pl.when(pl.col("_u_city_text") < 0.25)
            .then(pl.col("city_other").list.get(other, null_on_oob=True))
            .otherwise("city_name")
        ),
        created_at=(
            pl.lit(_EPOCH)
            + pl.duration(days=pl.col("created_days"), seconds=pl.col("created_seconds"))
        ).dt.strftime("%Y-%m-%d %H:%M:%S"),
        truth_client_id=pl.format("C{}", pl.col("client").cast(pl.String).str.zfill(7)),
    )
    rows = rows.with_columns(email=_with_typos(rng, rows.get_column("email"), P_EMAIL_TYPO))
    order = rng.permutation(rows.height)
    export = (
        rows.select(*EXPORT_COLUMNS[1:], TRUTH_COLUMN)[order]
        .with_row_index("record_id", offset=1)
        .with_columns(
            pl.format("R{}", pl.col("record_id").cast(pl.String).str.zfill(8)).alias("record_id")
        )
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BENCHMARK_FILE
    export.write_csv(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m dedup_pipeline.samples.benchmark --out DIR [--clients N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    for f in fields(BenchmarkSettings):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default
        )
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    settings = BenchmarkSettings(**args)
    path = generate_benchmark(out, settings)
    print(f"{path}: {asdict(settings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
