"""Misspelt mail domains are read as the provider meant, for matching."""

import polars as pl

from dedup_pipeline.normalize.domains import correct_domain_typos, domain_typo_fixes


def test_rare_misspellings_of_common_providers_are_corrected():
    emails = pl.Series(
        "emails",
        [
            *[[f"user{i}@gmail.com"] for i in range(3)],
            *[[f"user{i}@yandex.ru"] for i in range(3)],
            ["olga@yadex.ru"],
            ["john@gmail.con"],
            # a company domain one letter from a provider, used by several records: kept
            ["a@mail.ry"],
            ["b@mail.ry"],
            ["c@mail.ry"],
            [],
        ],
    )
    fixes = domain_typo_fixes(emails)
    assert dict(fixes.iter_rows()) == {"yadex.ru": "yandex.ru", "gmail.con": "gmail.com"}
    corrected = emails.to_frame().select(correct_domain_typos(pl.col("emails"), fixes))
    assert corrected["emails"][6].to_list() == ["olga@yandex.ru"]
    assert corrected["emails"][8].to_list() == ["a@mail.ry"]
