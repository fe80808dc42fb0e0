import polars as pl

from dedup_pipeline.config import load_config
from dedup_pipeline.normalize import (
    normalize_contacts,
    normalize_email_values,
    normalize_phone_values,
)
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA
from dedup_pipeline.sources import read_source
from tests.conftest import ROOT, records_frame, source_record


def test_phone_formats_of_one_number_share_one_e164():
    raw = ["8 (912) 345-67-89", "+7 912 345 67 89", "89123456789", "9123456789", "+7(912)3456789"]
    values = normalize_phone_values(pl.DataFrame({"phone_raw": raw, "region": ["RU"] * 5}))
    assert values.get_column("phone_e164").unique().to_list() == ["+79123456789"]
    assert values.get_column("phone_valid").all()
    assert set(values.get_column("phone_type")) == {"mobile"}


def test_default_region_applies_to_national_numbers():
    values = normalize_phone_values(
        pl.DataFrame({"phone_raw": ["(415) 555-2671", "020 7946 0958"], "region": ["US", "GB"]})
    ).sort("phone_raw")
    assert values.get_column("phone_e164").to_list() == ["+14155552671", "+442079460958"]


def test_invalid_phones_are_flagged_not_dropped():
    values = normalize_phone_values(
        pl.DataFrame({"phone_raw": ["123", "call me", "+7 000 000"], "region": ["RU"] * 3})
    )
    assert values.height == 3
    assert not values.get_column("phone_valid").any()
    assert values.get_column("phone_problem").null_count() == 0


def test_emails_are_validated_and_lowercased_without_dns():
    values = normalize_email_values(
        pl.Series(["Ivan.Petrov@Mail.RU", " <anna@example.com> ", "bad@@x", "no-at-sign"])
    ).sort("email_raw")
    by_raw = {row["email_raw"]: row for row in values.iter_rows(named=True)}
    assert by_raw["Ivan.Petrov@Mail.RU"]["email_normalized"] == "ivan.petrov@mail.ru"
    assert by_raw["Ivan.Petrov@Mail.RU"]["email_domain"] == "mail.ru"
    assert by_raw[" <anna@example.com> "]["email_normalized"] == "anna@example.com"
    assert by_raw["bad@@x"]["email_valid"] is False
    assert by_raw["no-at-sign"]["email_problem"]


def test_contacts_keep_every_record_and_split_valid_from_invalid():
    records = records_frame(
        source_record(
            "crm",
            "1",
            first_name=" Иван ",
            last_name="ПЕТРОВ",
            phones=["8 (912) 345-67-89", "+79123456789", "123"],
            emails=["Ivan.Petrov@Mail.RU", "bad@@x"],
            company="ООО «Ромашка»",
            city=" Москва ",
        ),
        source_record("web", "2", full_name="Петров Иван Сергеевич"),
        source_record("web", "3"),
    )
    contacts = normalize_contacts(records, default_regions={"crm": "RU"}).contacts
    assert contacts.height == 3
    first = contacts.row(0, named=True)
    assert first["first_name_norm"] == "иван"
    assert first["last_name_norm"] == "петров"
    assert first["phones_e164"] == ["+79123456789"]
    assert first["phones_invalid"] == ["123"]
    assert first["emails_normalized"] == ["ivan.petrov@mail.ru"]
    assert first["emails_invalid"] == ["bad@@x"]
    assert first["company_norm"] == "ооо ромашка"
    assert first["city_norm"] == "москва"
    full_only = contacts.row(1, named=True)
    assert full_only["full_name_norm"] == "петров иван сергеевич"
    empty = contacts.row(2, named=True)
    assert empty["phones_e164"] == [] and empty["first_name_norm"] is None


def test_transliteration_keys_bring_scripts_together():
    from dedup_pipeline.normalize import transliterate_name

    names = ["юлия", "iuliia", "алексей", "alexey", "aleksey", "михаил", "mikhail", "зоя", "zoia"]
    keys = pl.DataFrame({"name": names}).select(transliterate_name(pl.col("name")))["name"]
    key = dict(zip(names, keys, strict=True))
    assert key["юлия"] == key["iuliia"]
    assert key["алексей"] == key["alexey"] == key["aleksey"]
    assert key["михаил"] == key["mikhail"]
    assert key["зоя"] == key["zoia"]


def test_contacts_carry_name_keys():
    records = records_frame(
        source_record("crm", "1", first_name="Юлия", last_name="Кузнецова"),
        source_record("hub", "2", first_name="Iuliia", last_name="Kuznetsova"),
    )
    contacts = normalize_contacts(records).contacts
    assert contacts["first_name_key"].n_unique() == 1
    assert contacts["last_name_key"].n_unique() == 1
    assert contacts["first_name_norm"].to_list() == ["юлия", "iuliia"]  # display kept


def test_full_names_are_split_by_their_patronymic():
    records = records_frame(
        source_record("web", "1", full_name="Петров Иван Сергеевич"),
        source_record("web", "2", full_name="Иван Сергеевич Петров"),
        source_record("web", "3", full_name="Иван Петров"),
        source_record("web", "4", full_name="Popova Olga Dmitrievna"),
    )
    contacts = normalize_contacts(records).contacts
    parts = contacts.select("first_name_norm", "middle_name_norm", "last_name_norm").rows()
    assert parts == [
        ("иван", "сергеевич", "петров"),
        ("иван", "сергеевич", "петров"),
        ("иван", None, "петров"),
        ("olga", "dmitrievna", "popova"),
    ]


def test_diminutives_and_nicknames_share_a_variant():
    from dedup_pipeline.normalize.nicknames import first_name_variants

    names = pl.Series(["саша", "sasha", "александр", "bob", "robert", "женя", "евгения", None])
    variants = dict(zip(names.to_list(), first_name_variants(names).to_list(), strict=True))

    def related(a: str, b: str) -> bool:
        return bool(set(variants[a]) & set(variants[b]))

    assert related("саша", "александр") and related("sasha", "александр")
    assert related("bob", "robert")
    assert related("женя", "евгения")
    assert not related("александр", "robert")
    assert variants[None] is None


def test_a_diminutive_suffix_on_a_known_short_name_reads_as_that_name():
    from dedup_pipeline.normalize.nicknames import first_name_variants

    names = ["леночка", "lenochka", "елена", "санёк", "александр", "димон", "дмитрий"]
    names += ["женька", "евгения", "мирон", "мария"]
    variants = dict(zip(names, first_name_variants(pl.Series(names)).to_list(), strict=True))

    def related(a: str, b: str) -> bool:
        return not set(variants[a]).isdisjoint(variants[b])

    assert related("леночка", "елена") and related("lenochka", "елена")
    assert related("санёк", "александр")
    assert related("димон", "дмитрий")
    assert related("женька", "евгения")
    # "Мир-он" is no suffixed "Мира": only a known short name takes a suffix.
    assert not related("мирон", "мария")
    assert not related("димон", "александр")


def test_full_names_in_either_order_are_oriented_by_how_names_are_used():
    records = records_frame(
        # Structured records teach which keys are first names and which are surnames.
        source_record("crm", "1", first_name="Barbara", last_name="Campbell"),
        source_record("crm", "2", first_name="Barbara", last_name="Wilson"),
        source_record("web", "3", full_name="Campbell Barbara"),
        source_record("web", "4", full_name="Миронов Саня"),  # a diminutive, surname first
        source_record("web", "5", full_name="Волкова Ольга"),
        source_record("crm", "6", first_name="Petrov", last_name="Ivan"),  # fields swapped
        source_record("web", "7", full_name="Zorg Blip"),  # nothing known: kept as written
    )
    contacts = normalize_contacts(records).contacts
    names = contacts.select("first_name_key", "last_name_key").rows()
    assert names[2:] == [
        ("barbara", "campbell"),
        ("sanya", "mironov"),
        ("olga", "volkova"),
        ("ivan", "petrov"),
        ("zorg", "blip"),
    ]


def test_russian_names_match_their_western_forms_and_yo_spellings():
    from dedup_pipeline.normalize.nicknames import first_name_variants

    names = pl.Series(["елена", "helen", "георгий", "george", "дима", "dmitrii", "тёма", "tyoma"])
    variants = dict(zip(names.to_list(), first_name_variants(names).to_list(), strict=True))
    for russian, other in (("елена", "helen"), ("георгий", "george"), ("дима", "dmitrii")):
        assert set(variants[russian]) & set(variants[other]), (russian, other)
    assert set(variants["тёма"]) & set(variants["tyoma"])


def test_a_misspelt_first_name_gets_the_variants_of_the_name_it_misspells():
    from dedup_pipeline.normalize.nicknames import first_name_variants

    names = pl.Series(["наалья", "vyacheslva", "наталья", "zorgblip"])
    variants = first_name_variants(names).to_list()
    assert "natalya" in variants[0] and "vyacheslav" in variants[1]
    assert variants[3] == ["zorgblip"]  # nothing known is close: no guess


def _sample_records() -> pl.DataFrame:
    config = load_config(ROOT / "configs" / "sample.yaml")
    return pl.concat(
        [read_source(s).records.select(list(SOURCE_RECORD_SCHEMA)) for s in config.sources]
    )


def test_a_nightly_normalizes_only_new_and_changed_records_and_agrees_with_a_full_run():
    day1 = _sample_records()
    first = normalize_contacts(day1, default_regions={"bitrix24": "RU"})
    ids = day1.get_column("record_id")
    changed_phone, touched_only, deleted = ids[0], ids[1], ids[2]
    day2 = pl.concat(
        [
            day1.filter(pl.col("record_id") != deleted).with_columns(
                phones=pl.when(pl.col("record_id") == changed_phone)
                .then(pl.lit(["8 (912) 000-11-22"]))
                .otherwise(pl.col("phones")),
                # Only a timestamp and the row number move: the contact is the same.
                updated_at=pl.when(pl.col("record_id") == touched_only)
                .then(pl.datetime(2026, 11, 23))
                .otherwise(pl.col("updated_at")),
                source_row=pl.col("source_row") + 1,
            ),
            records_frame(
                source_record(
                    "webform", "new-1", full_name="Петров Иван", phones=["+7 912 345 67 89"]
                )
            ),
        ]
    )

    nightly = normalize_contacts(day2, default_regions={"bitrix24": "RU"}, previous=first)
    full = normalize_contacts(day2, default_regions={"bitrix24": "RU"})

    assert nightly.renormalized == 2  # the changed phone and the new lead
    assert nightly.contacts.equals(full.contacts)
    by_id = {row["record_id"]: row for row in nightly.contacts.iter_rows(named=True)}
    assert by_id[changed_phone]["phones_e164"] == ["+79120001122"]
    assert by_id[touched_only]["updated_at"].year == 2026
    assert deleted not in by_id
    assert "+79120001122" in nightly.phone_values.get_column("phone_e164").to_list()
    assert nightly.phone_values.sort("phone_raw", "region").equals(
        full.phone_values.sort("phone_raw", "region")
    )
    assert nightly.email_values.sort("email_raw").equals(full.email_values.sort("email_raw"))
