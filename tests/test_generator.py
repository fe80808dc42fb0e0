"""The sample-data generator: formats, ground truth, determinism, noise, bad rows."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import phonenumbers
import polars as pl
import pytest

from dedup_pipeline.samples import SampleFiles, generate_sample
from dedup_pipeline.samples.generator import (
    BITRIX24_COLUMNS,
    HUBSPOT_COLUMNS,
    WEBFORM_KEYS,
    main,
    n_bad_rows_for,
    n_spam_leads_for,
)
from dedup_pipeline.samples.pools import SPAM_EMAIL_DOMAINS

N_CLIENTS = 200


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate_sample(tmp_path_factory.mktemp("sample"), n_clients=N_CLIENTS, seed=11)


def _bitrix_rows(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("cp1251")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _hubspot_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _webform_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _webform_records(path: Path) -> list[dict[str, object]]:
    records = []
    for line in _webform_lines(path):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _truth(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["record_id", "client_id"]
        return {row["record_id"]: row["client_id"] for row in reader}


def _valid_records(sample: SampleFiles) -> dict[str, str]:
    """record_id -> truth_client_id for every row that is not a deliberate bad row."""
    found: dict[str, str] = {}
    rows = _bitrix_rows(sample.bitrix24)
    for row in rows[1:]:
        if len(row) == len(BITRIX24_COLUMNS) and row[0]:
            found[f"bitrix24:{row[0]}"] = row[-1]
    for row in _hubspot_rows(sample.hubspot):
        found[f"hubspot:{row['Record ID']}"] = row["truth_client_id"]
    for record in _webform_records(sample.webform):
        found[f"webform:{record['lead_id']}"] = str(record["truth_client_id"])
    return found


def test_files_exist_with_exact_headers(sample: SampleFiles) -> None:
    for path in sample.paths.values():
        assert path.is_file()
    assert sample.bitrix24.read_bytes().split(b"\r\n", 1)[0].decode("cp1251") == ";".join(
        BITRIX24_COLUMNS
    )
    header = sample.hubspot.read_bytes().split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    assert header == ",".join(HUBSPOT_COLUMNS)
    first = json.loads(_webform_lines(sample.webform)[0])
    assert tuple(first) == WEBFORM_KEYS
    assert sample.truth.read_text(encoding="utf-8").splitlines()[0] == "record_id,client_id"


def test_bitrix24_is_cp1251_semicolon_crlf(sample: SampleFiles) -> None:
    raw = sample.bitrix24.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # Cyrillic in cp1251 is not valid UTF-8
    text = raw.decode("cp1251")
    assert "Фамилия" in text
    assert text.count("\r\n") == text.count("\n")  # every line ends with CRLF
    rows = _bitrix_rows(sample.bitrix24)
    assert Counter(len(row) for row in rows)[len(BITRIX24_COLUMNS)] == len(rows) - sum(
        1 for bad in sample.bad_rows if bad.kind == "extra_field"
    )
    assert all(re.fullmatch(r"\d+", row[0]) for row in rows[1:] if row[0])
    dates = [row[10] for row in rows[1:] if len(row) == len(BITRIX24_COLUMNS)]
    for value in dates:
        datetime.strptime(value, "%d.%m.%Y %H:%M:%S")


def test_hubspot_has_bom_and_iso_dates(sample: SampleFiles) -> None:
    assert sample.hubspot.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = _hubspot_rows(sample.hubspot)
    assert len(rows) == sample.n_hubspot
    for row in rows:
        created = datetime.strptime(row["Create Date"], "%Y-%m-%d %H:%M:%S")
        updated = datetime.strptime(row["Last Modified Date"], "%Y-%m-%d %H:%M:%S")
        assert updated >= created
        assert 2021 <= created.year <= 2026
        assert int(row["Record ID"]) > 10**9


def test_webform_leads_shape(sample: SampleFiles) -> None:
    records = _webform_records(sample.webform)
    assert len(records) == sample.n_webform
    for record in records:
        assert re.fullmatch(r"L-\d{6,}", str(record["lead_id"]))
        assert isinstance(record["name"], str) and record["name"].strip()
        assert isinstance(record["phone"], str)
        assert record["email"] is None or isinstance(record["email"], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(record["submitted_at"]))


def test_truth_matches_exports_both_ways(sample: SampleFiles) -> None:
    truth = _truth(sample.truth)
    found = _valid_records(sample)
    assert found == truth
    assert len(truth) == sample.n_records
    assert sample.records_per_source == {
        source: sum(1 for record_id in truth if record_id.startswith(f"{source}:"))
        for source in ("bitrix24", "hubspot", "webform")
    }
    clients = {client for client in truth.values() if not client.startswith("S")}
    assert len(clients) == sample.n_clients == N_CLIENTS
    # About two records per client.
    assert 1.6 <= sample.n_records / sample.n_clients <= 2.3


def test_same_seed_same_bytes_other_seed_differs(sample: SampleFiles, tmp_path: Path) -> None:
    again = generate_sample(tmp_path / "again", n_clients=N_CLIENTS, seed=11)
    other = generate_sample(tmp_path / "other", n_clients=N_CLIENTS, seed=12)
    for name, path in sample.paths.items():
        assert again.paths[name].read_bytes() == path.read_bytes(), name
    assert other.hubspot.read_bytes() != sample.hubspot.read_bytes()
    assert other.bitrix24.read_bytes() != sample.bitrix24.read_bytes()


def test_clients_have_records_in_several_sources(sample: SampleFiles) -> None:
    sources_of: dict[str, set[str]] = {}
    for record_id, client in _truth(sample.truth).items():
        sources_of.setdefault(client, set()).add(record_id.split(":", 1)[0])
    spread = Counter(len(sources) for sources in sources_of.values())
    assert spread[2] + spread[3] >= N_CLIENTS // 5


def _all_phones(sample: SampleFiles) -> list[str]:
    phones: list[str] = []
    header = _bitrix_rows(sample.bitrix24)[0]
    for row in _bitrix_rows(sample.bitrix24)[1:]:
        record = dict(zip(header, row, strict=False))
        for column in ("Рабочий телефон", "Мобильный телефон"):
            phones += [p for p in record.get(column, "").split(",") if p.strip()]
    for row in _hubspot_rows(sample.hubspot):
        for column in ("Phone Number", "Mobile Phone Number"):
            phones += [p for p in row[column].split(",") if p.strip()]
    phones += [
        str(r["phone"])
        for r in _webform_records(sample.webform)
        if not r["truth_client_id"].startswith("S")  # bots type anything
    ]
    return phones


def test_bots_leave_junk_leads_each_its_own_client(sample: SampleFiles) -> None:
    bots = [r for r in _webform_records(sample.webform) if r["truth_client_id"].startswith("S")]
    assert len(bots) == n_spam_leads_for(N_CLIENTS) == 6
    assert len({r["truth_client_id"] for r in bots}) == len(bots)
    for lead in bots:
        phone = lead["phone"]
        assert phone is None or not phonenumbers.is_valid_number(phonenumbers.parse(phone, "RU"))
        assert lead["email"].endswith("@") or lead["email"].split("@")[1] in SPAM_EMAIL_DOMAINS


def test_phones_are_valid_in_many_formats(sample: SampleFiles) -> None:
    phones = _all_phones(sample)
    for phone in phones:
        # The config reads every source with default region RU.
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "RU")), phone
    shapes = Counter(re.sub(r"\d", "#", phone.strip()) for phone in phones)
    assert len(shapes) >= 10
    for shape in ("+# ### ###-##-##", "# (###) ###-##-##", "###########", "+###########"):
        assert shape in shapes, shape
    assert any(p.strip().startswith("+1") for p in phones)
    assert any(p.strip().startswith("+44") for p in phones)
    # The same number written in different ways across records.
    by_number: dict[str, set[str]] = {}
    for phone in phones:
        e164 = phonenumbers.format_number(
            phonenumbers.parse(phone, "RU"), phonenumbers.PhoneNumberFormat.E164
        )
        by_number.setdefault(e164, set()).add(phone.strip())
    assert sum(len(written) > 1 for written in by_number.values()) >= 20


def test_name_noise_present(sample: SampleFiles) -> None:
    hubspot_first = [row["First Name"] for row in _hubspot_rows(sample.hubspot)]
    web_names = [str(r["name"]) for r in _webform_records(sample.webform)]
    names = hubspot_first + web_names
    # Russian clients transliterated in HubSpot, Cyrillic names in Bitrix24.
    assert any(re.search(r"[a-z]", n) for n in hubspot_first)
    assert any(re.search(r"[а-я]", n) for n in names)
    bitrix_last = [row[3] for row in _bitrix_rows(sample.bitrix24)[1:] if len(row) > 3]
    assert any(n and n == n.upper() and len(n) > 2 for n in bitrix_last + web_names)
    assert any(len(name.split()) == 1 for name in web_names)  # only a first name


def test_bad_rows_as_specified(sample: SampleFiles) -> None:
    assert sample.n_bad_rows == n_bad_rows_for(N_CLIENTS) == 3
    kinds = Counter((bad.source, bad.kind) for bad in sample.bad_rows)
    assert kinds == {
        ("bitrix24", "empty_id"): 1,
        ("bitrix24", "extra_field"): 1,
        ("webform", "invalid_json"): 1,
    }
    bitrix_lines = sample.bitrix24.read_bytes().decode("cp1251").split("\r\n")
    web_lines = _webform_lines(sample.webform)
    truth = _truth(sample.truth)
    for bad in sample.bad_rows:
        if bad.source == "bitrix24":
            fields = next(csv.reader([bitrix_lines[bad.line - 1]], delimiter=";"))
            if bad.kind == "empty_id":
                assert fields[0] == "" and bad.record_id is None
                assert len(fields) == len(BITRIX24_COLUMNS)
            else:
                assert len(fields) == len(BITRIX24_COLUMNS) + 1
                assert f"bitrix24:{fields[0]}" not in truth
        else:
            line = web_lines[bad.line - 1]
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
            assert f"webform:{bad.record_id}" not in truth
    assert sum(1 for line in web_lines if line) == sample.n_webform + 1


def test_bad_row_count_scales() -> None:
    assert n_bad_rows_for(1500) == 3
    assert n_bad_rows_for(500_000) == 1000


def test_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_clients"):
        generate_sample(tmp_path, n_clients=0)
    with pytest.raises(ValueError, match="ru_share"):
        generate_sample(tmp_path, ru_share=1.5)


def test_cli_writes_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--clients", "30", "--seed", "3"]) == 0
    assert (out / "truth.csv").is_file()
    assert "30 clients" in capsys.readouterr().out


def _record_contacts(sample: SampleFiles) -> list[tuple[str, list[str], list[str], str]]:
    """(client, phones, e-mails, "first last") for every good record."""
    out: list[tuple[str, list[str], list[str], str]] = []
    rows = _bitrix_rows(sample.bitrix24)
    header = rows[0]
    for row in rows[1:]:
        if len(row) != len(header) or not row[0]:
            continue
        r = dict(zip(header, row, strict=True))
        out.append(
            (
                r["truth_client_id"],
                [r["Рабочий телефон"], r["Мобильный телефон"]],
                [r["Рабочий e-mail"], r["Частный e-mail"]],
                f"{r['Имя']} {r['Фамилия']}",
            )
        )
    for r in _hubspot_rows(sample.hubspot):
        out.append(
            (
                r["truth_client_id"],
                [r["Phone Number"], r["Mobile Phone Number"]],
                [r["Email"]],
                f"{r['First Name']} {r['Last Name']}",
            )
        )
    return out


def test_hard_negatives_are_planted(sample: SampleFiles) -> None:
    phone_owners: dict[str, set[str]] = {}
    email_owners: dict[str, set[str]] = {}
    name_owners: dict[str, set[str]] = {}
    for client, phones, emails, name in _record_contacts(sample):
        for phone in filter(None, (p.strip() for p in phones)):
            e164 = phonenumbers.format_number(
                phonenumbers.parse(phone, "RU"), phonenumbers.PhoneNumberFormat.E164
            )
            phone_owners.setdefault(e164, set()).add(client)
        for email in filter(None, (e.strip().lower() for e in emails)):
            email_owners.setdefault(email, set()).add(client)
        name_owners.setdefault(" ".join(name.lower().split()), set()).add(client)
    # Colleagues share a switchboard, family members a home phone.
    assert sum(len(owners) > 1 for owners in phone_owners.values()) >= 5
    # Only company mailboxes are shared between clients, never personal addresses.
    shared = [email for email, owners in email_owners.items() if len(owners) > 1]
    assert shared
    assert {email.split("@")[0] for email in shared} <= {"info", "office", "sales", "hello"}
    # Namesakes: the same written name for different clients.
    assert any(len(owners) > 1 for owners in name_owners.values())


def test_transliteration_and_diminutives(tmp_path: Path) -> None:
    files = generate_sample(tmp_path, n_clients=600, seed=5)
    hubspot_first = {row["First Name"].strip() for row in _hubspot_rows(files.hubspot)}
    web_names = " ".join(str(r["name"]) for r in _webform_records(files.webform)).split()
    bitrix_first = {row[1].strip() for row in _bitrix_rows(files.bitrix24)[1:] if len(row) > 1}
    assert hubspot_first & {"Aleksandr", "Alexander", "Alex", "Dmitry", "Dmitriy", "Elena"}
    assert (bitrix_first | set(web_names)) & {"Саша", "Дима", "Лена", "Женя", "Катя", "Маша"}
    assert re.search(r"@\w+\.\w+", " ".join(r["Email"] for r in _hubspot_rows(files.hubspot)))


def test_namesakes_live_in_one_city() -> None:
    import numpy as np

    from dedup_pipeline.samples.generator import _draw_clients, _pools

    clients, _ = _draw_clients(np.random.default_rng(3), _pools(), 20_000, 0.7)
    groups = (
        clients.group_by("first_id", "surname_form", "patronymic_key")
        .agg("city_id", n="client")
        .filter(pl.col("n").list.len() == 2)
    )
    same_city = groups.filter(pl.col("city_id").list.n_unique() == 1).height
    # Planted namesakes share their city; chance pairs of popular names mostly do not.
    assert same_city / groups.height > 0.26  # 0.20 without planted namesakes
