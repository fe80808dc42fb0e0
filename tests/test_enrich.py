"""Enrichment: what phones and e-mails say about a client, on the golden profile."""

import phonenumbers
import polars as pl

from dedup_pipeline.enrich import (
    PHONE_ENRICHMENT_SCHEMA,
    PROFILE_ENRICHMENT_SCHEMA,
    enrich_emails,
    enrich_phones,
    enrich_profiles,
)

YEKATERINBURG_LANDLINE = "+73432123456"
BEELINE_MOBILE = "+79037773055"
TOLL_FREE = "+78001234567"
LONDON_LANDLINE = "+442077468144"


def _phone(table: pl.DataFrame, number: str) -> dict:
    return table.filter(pl.col("phone_e164") == number).row(0, named=True)


def test_phones_give_country_region_time_zone_carrier_and_line_type():
    table = enrich_phones(
        pl.Series([YEKATERINBURG_LANDLINE, BEELINE_MOBILE, TOLL_FREE, LONDON_LANDLINE, None])
    )
    assert table.height == 4
    landline = _phone(table, YEKATERINBURG_LANDLINE)
    assert (landline["country"], landline["country_ru"], landline["country_en"]) == (
        "RU",
        "Россия",
        "Russia",
    )
    assert (landline["region_ru"], landline["region_en"]) == ("Свердловская обл", "Ekaterinburg")
    assert landline["time_zones"] == ["Asia/Yekaterinburg"]
    assert (landline["time_zone"], landline["line_type"]) == ("Asia/Yekaterinburg", "fixed")

    mobile = _phone(table, BEELINE_MOBILE)
    assert (mobile["carrier_ru"], mobile["carrier_en"], mobile["line_type"]) == (
        "Билайн",
        "Beeline",
        "mobile",
    )
    # A Russian mobile range spans the country: its region and zone are not known.
    assert mobile["region_en"] is None and mobile["time_zone"] is None
    assert "Europe/Moscow" in mobile["time_zones"]

    toll_free = _phone(table, TOLL_FREE)
    assert (toll_free["line_type"], toll_free["country_en"]) == ("toll_free", "Russia")
    assert _phone(table, LONDON_LANDLINE)["time_zone"] == "Europe/London"


def test_numbers_described_before_with_the_same_data_are_not_looked_up_again():
    stored = {"region_en": "as stored", "time_zones": []}
    known = pl.DataFrame(
        [
            {"phone_e164": BEELINE_MOBILE, **stored, "described_with": phonenumbers.__version__},
            {"phone_e164": LONDON_LANDLINE, **stored, "described_with": "8.0.0"},
        ],
        schema=PHONE_ENRICHMENT_SCHEMA,
    )
    numbers = pl.Series([BEELINE_MOBILE, YEKATERINBURG_LANDLINE, LONDON_LANDLINE])
    table = enrich_phones(numbers, known=known)
    assert _phone(table, BEELINE_MOBILE)["region_en"] == "as stored"
    assert _phone(table, YEKATERINBURG_LANDLINE)["region_en"] == "Ekaterinburg"
    # Described with older data: looked up again.
    assert _phone(table, LONDON_LANDLINE)["region_en"] == "London"


def test_emails_are_free_corporate_or_disposable_and_role_mailboxes_are_flagged():
    table = enrich_emails(
        pl.Series(
            [
                "ivan@mailinator.com",
                "info@uraltekh.ru",
                "olga215@mail.ru",
                "a.petrov@mail.keystone.co.uk",
                "sales@gmail.com",
            ]
        )
    )
    rows = {row["email"]: row for row in table.iter_rows(named=True)}
    assert rows["ivan@mailinator.com"]["mailbox"] == "disposable"
    assert rows["ivan@mailinator.com"]["disposable"] is True
    assert rows["info@uraltekh.ru"]["role"] is True
    assert rows["info@uraltekh.ru"]["mailbox"] == "corporate"
    assert rows["info@uraltekh.ru"]["company_domain"] == "uraltekh.ru"
    assert rows["olga215@mail.ru"]["mailbox"] == "free"
    assert rows["olga215@mail.ru"]["company_domain"] is None
    assert rows["a.petrov@mail.keystone.co.uk"]["company_domain"] == "keystone.co.uk"
    assert rows["a.petrov@mail.keystone.co.uk"]["role"] is False
    assert rows["sales@gmail.com"]["role"] is True  # a role mailbox on free mail too


def test_addresses_classified_before_with_the_same_lists_are_taken_as_they_are():
    first = enrich_emails(pl.Series(["info@uraltekh.ru", "olga@mail.ru"]))
    stored = first.with_columns(
        mailbox=pl.when(pl.col("email") == "olga@mail.ru").then(pl.lit("as stored"))
    ).with_columns(
        described_with=pl.when(pl.col("email") == "olga@mail.ru")
        .then("described_with")
        .otherwise(pl.lit("older lists"))
    )
    again = enrich_emails(pl.Series(["info@uraltekh.ru", "olga@mail.ru", "new@x.ru"]), known=stored)
    mailboxes = dict(again.select("email", "mailbox").iter_rows())
    assert mailboxes == {
        "info@uraltekh.ru": "corporate",  # classified with older lists: again
        "olga@mail.ru": "as stored",
        "new@x.ru": "corporate",
    }


def _profiles() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cluster_id": ["CL1", "CL2", "CL3"],
            "profile_version": ["v1", "v2", "v3"],
            "company": [None, "ООО «Уралтех»", None],
            "phones": [[BEELINE_MOBILE, YEKATERINBURG_LANDLINE], [LONDON_LANDLINE], []],
            "emails": [["boss@uraltekh.ru", "ivan@mailinator.com"], ["info@uraltekh.ru"], []],
        }
    )


def test_profiles_summarise_their_phones_and_emails():
    profiles = _profiles()
    phones = enrich_phones(profiles["phones"].explode())
    emails = enrich_emails(profiles["emails"].explode())
    enriched = enrich_profiles(profiles, phones=phones, emails=emails)
    assert enriched.columns == [*profiles.columns, *PROFILE_ENRICHMENT_SCHEMA]
    first, second, third = enriched.iter_rows(named=True)
    # The most trusted phone gives the country; the first that knows more gives region
    # and local time.
    assert first["phone_country"] == "RU"
    assert first["phone_region_ru"] == "Свердловская обл"
    assert first["time_zone"] == "Asia/Yekaterinburg"
    assert first["phone_line_types"] == ["mobile", "fixed"]
    assert first["phone_carriers"] == ["Beeline"]
    assert first["email_mailboxes"] == ["corporate", "disposable"]
    assert first["disposable_emails"] == ["ivan@mailinator.com"]
    # Another client at the same domain names the company.
    assert first["suggested_company"] == "ООО «Уралтех»"
    assert second["suggested_company"] is None  # it has a company of its own
    assert second["role_emails"] == ["info@uraltekh.ru"]
    assert third["phone_country"] is None and third["email_mailboxes"] == []


def test_a_nightly_run_describes_again_only_the_profiles_whose_version_changed():
    profiles = _profiles()
    phones = enrich_phones(profiles["phones"].explode())
    emails = enrich_emails(profiles["emails"].explode())
    enriched = enrich_profiles(profiles, phones=phones, emails=emails)
    assert enrich_profiles(profiles, phones=phones, emails=emails, previous=enriched).equals(
        enriched
    )
    # A stored summary is taken as it is while the profile's version holds.
    stored = enriched.with_columns(phone_country=pl.lit("XX"))
    changed = profiles.with_columns(
        profile_version=pl.when(pl.col("cluster_id") == "CL2")
        .then(pl.lit("v2-new"))
        .otherwise("profile_version")
    )
    again = enrich_profiles(changed, phones=phones, emails=emails, previous=stored)
    assert again["phone_country"].to_list() == ["XX", "GB", "XX"]
    # The company suggestion looks at every profile, kept or described again.
    assert again["suggested_company"].to_list() == ["ООО «Уралтех»", None, None]


def test_client_history_gives_first_and_last_contact_and_the_preferred_channel():
    from datetime import datetime

    from dedup_pipeline.config import SourceConfig
    from dedup_pipeline.enrich import client_history

    def source(name: str, **options) -> SourceConfig:
        columns = {"source_record_id": "id", "full_name": "name"}
        return SourceConfig.model_validate(
            {"name": name, "path": f"{name}.csv", "columns": columns, **options}
        )

    sources = [
        source("bitrix24", channel_column="Источник"),
        source("webform", channel="web form"),
        source("hubspot"),
    ]
    contacts = pl.DataFrame(
        {
            "record_id": ["bitrix24:1", "bitrix24:2", "webform:L1", "hubspot:9", "hubspot:8"],
            "source": ["bitrix24", "bitrix24", "webform", "hubspot", "hubspot"],
            "attributes": ['{"Источник":"Звонок"}', '{"Источник":"Звонок"}', "{}", "{}", "{}"],
            "created_at": [
                datetime(2024, 5, 1),
                datetime(2024, 7, 1),
                datetime(2023, 1, 10),
                datetime(2025, 1, 1),
                datetime(2025, 2, 1),
            ],
            "updated_at": [datetime(2024, 6, 1), None, None, datetime(2025, 3, 1), None],
        }
    )
    clusters = pl.DataFrame(
        {
            "record_id": contacts["record_id"],
            "cluster_id": ["CL1", "CL1", "CL1", "CL2", "CL2"],
        }
    )
    one, two = client_history(contacts, clusters, sources=sources).iter_rows(named=True)
    # The web-form lead came first; the last change was a Bitrix24 card's.
    assert (one["first_contact_source"], one["first_contact_channel"]) == ("webform", "web form")
    assert one["first_contact_at"] == datetime(2023, 1, 10)
    assert (one["last_contact_source"], one["last_contact_at"]) == (
        "bitrix24",
        datetime(2024, 7, 1),
    )
    assert one["channel_counts"] == "Звонок: 2; web form: 1"
    assert one["preferred_channel"] == "Звонок"
    # HubSpot records name no channel: the data does not say.
    assert two["preferred_channel"] is None and two["channel_counts"] is None
    assert two["last_contact_at"] == datetime(2025, 3, 1)
    history = client_history(contacts, clusters, sources=sources)

    # A nightly run keeps a history whose members and channel settings are as they were.
    stored = history.with_columns(preferred_channel=pl.lit("stored"))
    again = client_history(contacts, clusters, sources=sources, previous=stored)
    assert again["preferred_channel"].to_list() == ["stored", "stored"]
    # A record whose channel changed makes its client's history be worked out again.
    called = contacts.with_columns(
        attributes=pl.when(pl.col("record_id") == "bitrix24:2")
        .then(pl.lit('{"Источник":"Web"}'))
        .otherwise("attributes")
    )
    again = client_history(called, clusters, sources=sources, previous=stored)
    assert again["channel_counts"].to_list() == ["Web: 1; Звонок: 1; web form: 1", None]
    assert again["preferred_channel"].to_list() == ["Web", "stored"]
    # So do other channel settings, for every client.
    sources[2] = source("hubspot", channel="HubSpot")
    again = client_history(contacts, clusters, sources=sources, previous=stored)
    assert again["preferred_channel"].to_list() == ["Звонок", "HubSpot"]
