import polars as pl
import pytest

from dedup_pipeline.normalize.companies import (
    FREE_EMAIL_DOMAINS,
    company_compact_key,
    company_key,
    corporate_domain_labels,
    corporate_email_domains,
    email_domain_label,
)


def _keys(names: list[str | None]) -> list[str | None]:
    frame = pl.DataFrame({"company": names}, schema={"company": pl.String})
    return frame.select(company_key(pl.col("company"))).to_series().to_list()


def _compact(name: str) -> str | None:
    return pl.select(company_compact_key(pl.lit(name))).item()


def _label(domain: str) -> str | None:
    return pl.select(email_domain_label(pl.lit(domain))).item()


def _per_row(expr_fn, emails: list[list[str | None] | None]) -> list:
    frame = pl.DataFrame({"emails": emails}, schema={"emails": pl.List(pl.String)})
    return frame.select(expr_fn(pl.col("emails"))).to_series().to_list()


SAME_COMPANY = {
    "uralgrupp": ['ООО "Уралгрупп"', "пао уралгрупп", "PAO Uralgrupp", "uralgrupp"],
    "optimatrans": [
        "закрытое акционерное общество оптиматранс",
        "ЗАО «ОптимаТранс»",
        "ZAO OptimaTrans",
    ],
    "voshodsoft": [
        "voskhodsoft llc",
        "ооо восходсофт",
        "Общество с ограниченной ответственностью «Восходсофт»",
    ],
    "lighthouse capital": [
        "Lighthouse Capital Inc.",
        "lighthouse capital",
        "Lighthouse Capital, L.L.C.",
    ],
    "harbor point industries": [
        "Harbor Point Industries LLC",
        "Harbor Point Industries Corporation",
    ],
    "keistone": ["Keystone Ltd", "KEYSTONE LIMITED", "Keystone Co."],
    "muller": ["Müller GmbH", "Muller AG", "MÜLLER S.A."],
    "ivanov i": ["ИП Иванов И.И.", "индивидуальный предприниматель Иванов И.И."],
    "romashka": ["публичное акционерное общество «Ромашка»", "АО Ромашка", "Ромашка, НАО"],
}


@pytest.mark.parametrize(("key", "names"), SAME_COMPANY.items())
def test_legal_forms_are_stripped_across_scripts(key, names):
    assert _keys(names) == [key] * len(names)


@pytest.mark.parametrize(
    "name", ["ООО", "ЗАО «»", "L.L.C.", "Inc.", "акционерное общество", "Ltd & Co", "  ", None]
)
def test_name_of_only_a_legal_form_gives_null(name):
    assert _keys([name]) == [None]


def test_legal_form_inside_another_word_is_kept():
    assert _keys(["Аокс", "Cooper", "Incom", "ООО Ипатов", "Ltdesign", "Sagaform"]) == [
        "aoks",
        "cooper",
        "incom",
        "ipatov",
        "ltdesign",
        "sagaform",
    ]


def test_quotes_and_punctuation_are_dropped():
    assert _keys(["«Альфа-Бета»", "'Alfa' - \"Beta\"!", "“Alfa Beta”"]) == ["alfa beta"] * 3


def test_compact_key_has_no_spaces():
    assert _compact("Lighthouse Capital Inc.") == "lighthousecapital"
    assert _compact("ООО") is None


def test_compact_key_matches_domain_label_across_scripts():
    assert _compact("ЗАО «Уралтех»") == _label("uraltekh.ru")
    assert _compact("Lighthouse Capital Inc.") == _label("lighthousecapital.co.uk")
    assert _compact("ооо восходсофт") == _label("voskhodsoft.ru")
    assert _compact("Harbor Point Industries LLC") == _label("mail.harborpointindustries.com")


@pytest.mark.parametrize(
    ("domain", "label"),
    [
        ("uraltekh.ru", "uralteh"),  # romanisation folds as in `transliterate_name`
        ("keystone63.co.uk", "keistone63"),
        ("mail.harborpointindustries.com", "harborpointindustries"),
        ("lighthousecapital.co.uk", "lighthousecapital"),
        ("shop.romashka.com.ru", "romashka"),
        ("romashka.msk.ru", "romashka"),
        ("acme.com.au", "acme"),
        ("Harbor-Point.COM.", "harborpoint"),
        ("co.uk", None),
        ("localhost", None),
    ],
)
def test_domain_label_handles_two_level_suffixes(domain, label):
    assert _label(domain) == label


def test_russian_and_global_free_mail_domains_are_known():
    for domain in (
        "mail.ru", "bk.ru", "list.ru", "inbox.ru", "internet.ru", "yandex.ru", "ya.ru",
        "yandex.com", "rambler.ru", "lenta.ru", "autorambler.ru", "myrambler.ru", "ro.ru",
        "gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "aol.com", "icloud.com",
    ):  # fmt: skip
        assert domain in FREE_EMAIL_DOMAINS
    assert "uraltekh.ru" not in FREE_EMAIL_DOMAINS


def test_corporate_domains_drop_free_mail_and_duplicates():
    emails = [
        [
            "roman.kuznetsov@uraltekh.ru",
            "roman@gmail.com",
            "r.k@uraltekh.ru",
            "p.wilson@keystone63.co.uk",
            "olga@mail.ru",
            "olga@list.ru",
            "x@mail.yandex.ru",
            None,
            "olga@voskhodsoft.ru",
        ],
        ["a@yandex.ru", "b@ya.ru"],
        [],
        None,
    ]
    assert _per_row(corporate_email_domains, emails) == [
        ["uraltekh.ru", "keystone63.co.uk", "voskhodsoft.ru"],
        [],
        [],
        None,
    ]
    assert _per_row(corporate_domain_labels, emails) == [
        ["uralteh", "keistone63", "voshodsoft"],
        [],
        [],
        None,
    ]


def test_corporate_domain_labels_dedupe_labels_of_different_domains():
    emails = [["a@uraltekh.ru", "b@mail.uraltekh.ru", "c@uraltekh.com"]]
    assert _per_row(corporate_domain_labels, emails) == [["uralteh"]]
