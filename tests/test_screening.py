"""Blacklists and junk: which records are flagged, why, and what a bad list says."""

from pathlib import Path

import pytest

from dedup_pipeline.config import BlacklistConfig, ConfigError, JunkConfig, load_config
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.screening import Blacklist, FlagReason, flag_records, is_nonsense_word
from tests.conftest import records_frame, source_record

NO_JUNK = JunkConfig(enabled=False)
NOTHING_LISTED = Blacklist()


def _contacts(*records):
    return normalize_contacts(records_frame(*records), default_regions={"crm": "RU"}).contacts


def _flags(contacts, *, blacklist=NOTHING_LISTED, junk=NO_JUNK) -> dict[str, tuple[list, str]]:
    flagged = flag_records(contacts, blacklist=blacklist, junk=junk)
    return {row["record_id"]: (row["reasons"], row["detail"]) for row in flagged.to_dicts()}


def test_listed_phone_matches_however_it_was_written():
    contacts = _contacts(
        source_record("crm", "1", full_name="Офис", phones=["8 (800) 555-35-35"]),
        source_record("crm", "2", full_name="Иван", phones=["+7 912 345 67 89"]),
    )
    blacklist = Blacklist.from_config(BlacklistConfig(phones=["+78005553535"]))
    assert _flags(contacts, blacklist=blacklist) == {
        "crm:1": ([FlagReason.BLACKLISTED_PHONE], "phone +78005553535 is blacklisted")
    }


def test_listed_email_domain_covers_its_subdomains_and_sources_flag_everything():
    contacts = _contacts(
        source_record("crm", "1", full_name="A", emails=["Bot@Spam.example.com"]),
        source_record("crm", "2", full_name="B", emails=["b@notspam-example.com"]),
        source_record("crm", "3", full_name="C", emails=["c@example.com"]),
        source_record("old", "1", full_name="D"),
    )
    config = BlacklistConfig(domains=["@example.com"], emails=["C@example.com"], sources=["old"])
    flags = _flags(contacts, blacklist=Blacklist.from_config(config))
    assert flags["crm:1"] == (
        [FlagReason.BLACKLISTED_DOMAIN],
        "e-mail domain example.com is blacklisted",
    )
    assert "crm:2" not in flags
    assert flags["crm:3"][0] == [FlagReason.BLACKLISTED_DOMAIN, FlagReason.BLACKLISTED_EMAIL]
    assert flags["old:1"][0] == [FlagReason.BLACKLISTED_SOURCE]


def test_junk_needs_no_way_to_reach_the_client_and_no_real_name():
    contacts = _contacts(
        # junk: impossible phone, throw-away mail, keyboard mashing
        source_record("crm", "1", full_name="asdf", phones=["123"], emails=["x@mailinator.com"]),
        # junk: nothing at all
        source_record("crm", "2", company="ООО Ромашка"),
        # junk: a real-looking name can carry a test marker
        source_record("crm", "3", first_name="Тест", last_name="Иванов", phones=["0000"]),
        # not junk: a real name, even without a phone or e-mail
        source_record("crm", "4", full_name="Пётр Сидоров"),
        # not junk: nonsense name but a phone that works
        source_record("crm", "5", full_name="qwerty", phones=["+79123456789"]),
        # not junk: nonsense name but a real mailbox
        source_record("crm", "6", full_name="ааааа", emails=["anna@yandex.ru"]),
    )
    flags = _flags(contacts, junk=JunkConfig())
    assert sorted(flags) == ["crm:1", "crm:2", "crm:3"]
    assert flags["crm:1"] == (
        [FlagReason.JUNK],
        "junk: no valid phone, no usable e-mail (invalid or disposable), nonsense name 'asdf'",
    )
    assert flags["crm:2"][1] == "junk: no phone, no e-mail, no name"


def test_nonsense_words_can_be_added_and_names_are_judged_fairly():
    assert is_nonsense_word("фыва")  # a keyboard run
    assert is_nonsense_word("ывфа") is False
    assert is_nonsense_word("sdfgh")  # no vowel
    assert is_nonsense_word("zzz")
    assert is_nonsense_word("ываыва") and not is_nonsense_word("ляля")
    assert not is_nonsense_word("ли")  # a short real surname
    assert not is_nonsense_word("schmidt")
    contacts = _contacts(source_record("crm", "1", full_name="Вжух"))
    assert _flags(contacts, junk=JunkConfig()) == {}
    assert list(_flags(contacts, junk=JunkConfig(nonsense_words=["Вжух"]))) == ["crm:1"]


def test_a_bad_listed_value_is_named_at_load_time(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "sources: [{name: crm, path: a.csv, columns: {source_record_id: id, phones: tel}}]\n"
        "blacklist: {phones: ['+7 800 555 35 35', '12']}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(config)
    message = str(error.value)
    assert "blacklist.phones" in message and "[1] '12'" in message
    config.write_text(
        "sources: [{name: crm, path: a.csv, columns: {source_record_id: id, phones: tel}}]\n"
        "blacklist: {sources: [crm, nope]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"blacklist.sources names undeclared source\(s\): nope"):
        load_config(config)


def test_a_blacklist_file_is_read_and_a_bad_row_is_named(tmp_path: Path):
    listed = tmp_path / "blacklist.csv"
    listed.write_text(
        "kind,value,note\nphone,8 800 555-35-35,switchboard\ndomain,@Spam.ru,\n", encoding="utf-8"
    )
    blacklist = Blacklist.from_config(BlacklistConfig(file=listed, emails=["a@b.ru"]))
    assert blacklist.phones == {"+78005553535"}
    assert blacklist.domains == {"spam.ru"}
    assert blacklist.emails == {"a@b.ru"}
    listed.write_text("kind,value\nphone,+78005553535\nfax,123\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"blacklist.csv, row 3, field kind: 'fax'"):
        Blacklist.from_config(BlacklistConfig(file=listed))
    listed.write_text("kind,value\nemail,not-an-address\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"row 2, field value: 'not-an-address'"):
        Blacklist.from_config(BlacklistConfig(file=listed))
