"""Tests of reading exports into source records (fixtures are written into tmp_path)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from dedup_pipeline.config import ColumnMapping, SourceConfig
from dedup_pipeline.schema import QUARANTINE_SCHEMA, SOURCE_RECORD_SCHEMA
from dedup_pipeline.sources import ISSUE_SCHEMA, SourceError, SourceReadResult, read_source


def _config(path: Path, **mapping: object) -> SourceConfig:
    options = {k: mapping.pop(k) for k in list(mapping) if k in {"encoding", "delimiter", "sheet"}}
    return SourceConfig(name="crm", path=path, columns=ColumnMapping(**mapping), **options)


def _check(result: SourceReadResult) -> None:
    assert result.records.schema == pl.Schema(SOURCE_RECORD_SCHEMA)
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert result.issues.schema == pl.Schema(ISSUE_SCHEMA)
    assert result.rows_read == result.records.height + result.quarantine.height


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_cp1251_semicolon_csv_with_russian_headers(tmp_path: Path) -> None:
    text = (
        "ID;Фамилия;Имя;Отчество;Телефон;Город;Ответственный\r\n"
        "1;Иванов;Пётр;Сергеевич;8 912 345-67-89;Москва;Смирнова\r\n"
        "2;Кузнецова;Анна;Олеговна;+7 916 111-22-33;Санкт-Петербург;Попов\r\n"
    )
    path = _write(tmp_path / "crm.csv", text, "cp1251")
    result = read_source(
        _config(
            path,
            source_record_id="ID",
            last_name="Фамилия",
            first_name="Имя",
            middle_name="Отчество",
            phones="Телефон",
            city="Город",
        )
    )
    _check(result)
    assert result.encoding == "cp1251"
    assert result.delimiter == ";"
    rows = result.records.to_dicts()
    assert [r["record_id"] for r in rows] == ["crm:1", "crm:2"]
    assert rows[0]["last_name"] == "Иванов"
    assert rows[1]["city"] == "Санкт-Петербург"
    assert rows[0]["phones"] == ["8 912 345-67-89"]
    assert json.loads(rows[0]["attributes"]) == {"Ответственный": "Смирнова"}
    assert result.records["source_row"].to_list() == [2, 3]


def test_utf8_bom_comma_csv(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "ID,Name\n7,  Олег  \n8,\n".encode())
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    _check(result)
    assert result.encoding == "utf-8"
    assert result.delimiter == ","
    assert result.records["full_name"].to_list() == ["Олег", None]


def test_tab_delimited(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "ID\tName\tPhone\n1\tAnna, Ltd\t123\n")
    result = read_source(_config(path, source_record_id="ID", company="Name", phones="Phone"))
    _check(result)
    assert result.delimiter == "\t"
    assert result.records["company"].to_list() == ["Anna, Ltd"]


def test_explicit_encoding_and_delimiter_are_honoured(tmp_path: Path) -> None:
    # Detection would choose ',' (more header fields); the declared '|' wins.
    path = _write(tmp_path / "x.txt", "ID|Имя,Фамилия\n1|Пётр,Иванов\n", "koi8_r")
    result = read_source(
        _config(
            path, source_record_id="ID", full_name="Имя,Фамилия", encoding="koi8-r", delimiter="|"
        )
    )
    _check(result)
    assert result.encoding == "koi8-r"
    assert result.delimiter == "|"
    assert result.records["full_name"].to_list() == ["Пётр,Иванов"]


def test_several_phone_columns_and_multi_value_cells(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.csv",
        "ID;Рабочий;Мобильный;Email\n"
        '1;"8 912 345-67-89, +7 916 111-22-33";8 912 345-67-89;"a@x.ru; ;b@x.ru"\n'
        "2;;;\n",
    )
    result = read_source(
        _config(path, source_record_id="ID", phones=["Рабочий", "Мобильный"], emails="Email")
    )
    _check(result)
    rows = result.records.to_dicts()
    assert rows[0]["phones"] == ["8 912 345-67-89", "+7 916 111-22-33"]
    assert rows[0]["emails"] == ["a@x.ru", "b@x.ru"]
    assert rows[1]["phones"] == []
    assert rows[1]["emails"] == []


def test_missing_mapped_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "ID,Name\n1,A\n")
    with pytest.raises(SourceError) as error:
        read_source(_config(path, source_record_id="ID", full_name="Name", phones="Телефон"))
    message = str(error.value)
    assert "m.csv" in message
    assert "Телефон" in message
    assert "'Name'" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.csv"):
        read_source(_config(tmp_path / "nope.csv", source_record_id="ID", full_name="N"))


def test_malformed_rows_are_quarantined_with_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.csv",
        "ID,Name,Phone\r\n"
        "1,Ivan,123\r\n"
        "\r\n"  # blank line 3: skipped, not counted
        "2,Petr,456,extra\r\n"
        '3,"Anna\r\nmulti",789\r\n'  # lines 5-6
        "4,Oleg\r\n"
        "5,ok,1\r\n",
    )
    result = read_source(_config(path, source_record_id="ID", full_name="Name", phones="Phone"))
    _check(result)
    assert result.rows_read == 5
    assert result.records["source_record_id"].to_list() == ["1", "3", "5"]
    assert result.records["source_row"].to_list() == [2, 5, 8]
    quarantine = result.quarantine.to_dicts()
    assert [q["source_row"] for q in quarantine] == [4, 7]
    assert quarantine[0]["reason"] == "malformed row: expected 3 fields, found 4"
    assert quarantine[0]["raw"] == "2,Petr,456,extra"
    assert quarantine[1]["reason"] == "malformed row: expected 3 fields, found 2"
    assert quarantine[0]["file"] == str(path)


def test_unterminated_quote_is_quarantined_alone(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.csv", 'ID;Name\n1;a\n2;"open\n3;c\n')
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    _check(result)
    assert result.records["source_record_id"].to_list() == ["1", "3"]
    assert result.quarantine["source_row"].to_list() == [3]
    assert result.quarantine["reason"].item().startswith("malformed row: unterminated quote")
    assert "lines 3-4" in result.quarantine["reason"].item()


def test_a_stray_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    rows = ["id,full_name,phone"]
    for i in range(1, 41):
        name = {5: '"Client 5', 34: 'Client "34" x'}.get(i, f"Client {i}")
        rows.append(f"{i},{name},+7916000{i:04d}")
    path = _write(tmp_path / "stray.csv", "\n".join(rows) + "\n")
    result = read_source(
        _config(path, source_record_id="id", full_name="full_name", phones="phone")
    )
    _check(result)
    # Every line of the file is a record or a quarantined row: 40 = 39 + 1.
    assert result.rows_read == 40
    assert result.records.height == 39
    assert result.quarantine["source_row"].to_list() == [6]
    assert "runs over lines 6-35" in result.quarantine["reason"].item()
    rows_of = dict(result.records.select("source_record_id", "source_row").iter_rows())
    assert rows_of["6"] == 7 and rows_of["34"] == 35


def test_lines_no_row_covers_are_quarantined(tmp_path: Path) -> None:
    from dedup_pipeline.sources.csv_reader import _unread_lines
    from dedup_pipeline.sources.encoding import to_utf8

    path = _write(tmp_path / "x.csv", "id,name\n1,a\n2,b\n3,c\n")
    utf8, lines = to_utf8(path, "utf-8", tmp_path)
    # A parser that reported rows 2 and 4 only: line 3 must not vanish.
    frame = pl.DataFrame({"id": ["1", "3"], "name": ["a", "c"]})
    unread = _unread_lines(
        utf8, lines, frame, pl.Series([2, 4]), pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )
    assert unread.rows() == [(3, "malformed row: not read as a row by the CSV parser", "2,b")]


def test_empty_and_duplicate_ids_are_quarantined(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "ID;Name\n1;a\n ;b\n2;c\n1;d\n")
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    _check(result)
    assert result.records["full_name"].to_list() == ["a", "c"]
    quarantine = result.quarantine.to_dicts()
    assert [(q["source_row"], q["reason"], q["field"]) for q in quarantine] == [
        (3, "missing source record id", "ID"),
        (5, "duplicate source record id (first seen on row 2)", "ID"),
    ]
    assert quarantine[1]["source_record_id"] == "1"
    assert json.loads(quarantine[1]["raw"]) == {"ID": "1", "Name": "d"}


def test_header_only_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv", "ID;Name\n")
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    _check(result)
    assert result.rows_read == 0


def test_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Первый").write_row(0, 0, ["x"])
    sheet = workbook.add_worksheet("Контакты")
    sheet.write_row(0, 0, ["ID", "ФИО", "Телефон", "Создан", "Комментарий"])
    sheet.write_row(1, 0, [1, "Иванов Пётр", 89123456789, "01.02.2023 10:00:00", "VIP"])
    sheet.write_row(3, 0, [2, "Анна", "8 912, 8 913", "2023-05-06"])
    workbook.close()
    result = read_source(
        _config(
            path,
            source_record_id="ID",
            full_name="ФИО",
            phones="Телефон",
            created_at="Создан",
            sheet="Контакты",
        )
    )
    _check(result)
    rows = result.records.to_dicts()
    assert [r["source_record_id"] for r in rows] == ["1", "2"]
    assert [r["source_row"] for r in rows] == [2, 4]
    assert rows[0]["phones"] == ["89123456789"]
    assert rows[1]["phones"] == ["8 912", "8 913"]
    assert rows[0]["created_at"] == datetime(2023, 2, 1, 10, 0)
    assert json.loads(rows[0]["attributes"]) == {"Комментарий": "VIP"}


def test_parquet_keeps_typed_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame(
        {
            "id": [10, 11],
            "name": ["Пётр", "Анна"],
            "phone": ["8 912 345-67-89", None],
            "created": [datetime(2023, 1, 1, 12), None],
            "score": [1.5, 2.0],
        }
    ).with_columns(pl.col("created").dt.replace_time_zone("Europe/Moscow")).write_parquet(path)
    result = read_source(
        _config(
            path, source_record_id="id", first_name="name", phones="phone", created_at="created"
        )
    )
    _check(result)
    rows = result.records.to_dicts()
    assert [r["record_id"] for r in rows] == ["crm:10", "crm:11"]
    assert [r["source_row"] for r in rows] == [2, 3]
    assert rows[0]["created_at"] == datetime(2023, 1, 1, 9)  # Moscow is UTC+3
    assert json.loads(rows[1]["attributes"]) == {"score": "2.0"}


def test_json_array_with_phone_lists(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            [
                {"id": 1, "name": "Пётр", "phones": ["+7 912 345-67-89", "8 916 111-22-33"]},
                {"id": "2", "name": "Анна", "phones": "8 900 000-00-00; 8 901", "tag": "a"},
                "not an object",
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    result = read_source(_config(path, source_record_id="id", full_name="name", phones="phones"))
    _check(result)
    rows = result.records.to_dicts()
    assert rows[0]["phones"] == ["+7 912 345-67-89", "8 916 111-22-33"]
    assert rows[1]["phones"] == ["8 900 000-00-00", "8 901"]
    assert json.loads(rows[1]["attributes"]) == {"tag": "a"}
    assert result.quarantine["reason"].to_list() == ["not a JSON object"]
    assert result.quarantine["source_row"].to_list() == [3]


def test_unparseable_json_array_raises(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.json", '[{"id": 1')
    with pytest.raises(SourceError, match=r"broken\.json"):
        read_source(_config(path, source_record_id="id", full_name="name"))


def test_jsonl_with_broken_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.jsonl",
        '{"id": 1, "name": "Пётр", "phones": ["1", "2"]}\n'
        "\n"
        '{"id": 2, "name": oops}\n'
        '{"id": 3, "name": "Анна", "Источник": "сайт"}\n',
    )
    result = read_source(_config(path, source_record_id="id", full_name="name", phones="phones"))
    _check(result)
    assert result.rows_read == 3
    assert result.records["source_row"].to_list() == [1, 4]
    assert result.records["phones"].to_list() == [["1", "2"], []]
    assert json.loads(result.records["attributes"][1]) == {"Источник": "сайт"}
    quarantine = result.quarantine.to_dicts()
    assert [(q["source_row"], q["reason"], q["raw"]) for q in quarantine] == [
        (3, "invalid JSON", '{"id": 2, "name": oops}')
    ]


def test_timestamps_and_bad_timestamp_issue(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ts.csv",
        "ID;Name;Created;Updated\n"
        "1;a;2024-01-02T03:04:05Z;2024-01-02 03:04:05.5+03:00\n"
        "2;b;02.01.2024;2024/01/02\n"
        "3;c;sometime;\n",
    )
    config = SourceConfig(
        name="crm",
        path=path,
        columns=ColumnMapping(
            source_record_id="ID", full_name="Name", created_at="Created", updated_at="Updated"
        ),
        timestamp_formats=["%Y/%m/%d"],
    )
    result = read_source(config)
    _check(result)
    assert result.records["created_at"].to_list() == [
        datetime(2024, 1, 2, 3, 4, 5),
        datetime(2024, 1, 2),
        None,
    ]
    assert result.records["updated_at"].to_list() == [
        datetime(2024, 1, 2, 0, 4, 5, 500000),
        datetime(2024, 1, 2),
        None,
    ]
    assert result.issues.to_dicts() == [
        {
            "record_id": "crm:3",
            "field": "created_at",
            "problem": "unparseable timestamp",
            "raw": "sometime",
        }
    ]


def test_no_unmapped_columns_gives_empty_attributes(tmp_path: Path) -> None:
    path = _write(tmp_path / "n.csv", "ID,Name\n1,a\n")
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    assert result.records["attributes"].to_list() == ["{}"]


@pytest.mark.parametrize(("name", "text"), [("e.json", "[]"), ("e.jsonl", "\n\n")])
def test_empty_json_exports(tmp_path: Path, name: str, text: str) -> None:
    path = _write(tmp_path / name, text)
    result = read_source(_config(path, source_record_id="ID", full_name="Name"))
    _check(result)
    assert result.rows_read == 0


def test_unquoted_delimiter_with_trailing_delimiter_is_quarantined(tmp_path: Path) -> None:
    # A company name holding the delimiter and an empty last field: DuckDB alone would
    # accept the row with every column after the company shifted by one.
    path = _write(
        tmp_path / "bitrix.csv",
        "ID;Компания;Город;truth\r\n"
        "1;ООО Ромашка;Москва;C1\r\n"
        "2;Рога и Копыта; филиал Север;Москва;\r\n"
        '3;"А; Б";Казань;\r\n'  # a quoted delimiter and an empty last field: fine
        "4;ИП Сидоров;Тверь;C4\r\n",
        encoding="cp1251",
    )
    result = read_source(_config(path, source_record_id="ID", full_name="Компания"))
    _check(result)
    assert result.records["source_record_id"].to_list() == ["1", "3", "4"]
    assert result.records["source_row"].to_list() == [2, 4, 5]
    row = result.quarantine.row(0, named=True)
    assert row["source_row"] == 3
    assert row["reason"] == "malformed row: expected 4 fields, found 5"
    assert row["raw"] == "2;Рога и Копыта; филиал Север;Москва;"


def test_two_extra_fields_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "ID,Name,Phone\n1,a,1\n2,b,2,x,y\n")
    result = read_source(_config(path, source_record_id="ID", full_name="Name", phones="Phone"))
    assert result.quarantine["reason"].to_list() == ["malformed row: expected 3 fields, found 5"]


def test_tiny_cp1251_file_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path / "tiny.csv", "ID;Имя\n1;Иван\n2;Пётр\n", encoding="cp1251")
    result = read_source(_config(path, source_record_id="ID", first_name="Имя"))
    assert result.encoding == "cp1251"
    assert result.records["first_name"].to_list() == ["Иван", "Пётр"]


def test_a_huge_field_and_a_nul_in_an_id_are_quarantined_not_fatal(tmp_path: Path) -> None:
    rows = ["id,full_name,phone"] + [f"{i},Client {i},+7916000{i:04d}" for i in range(1, 6)]
    rows[3] = "3," + "A" * 1_000_000 + ",+79160000003"  # past the csv module's field limit
    rows[4] = "4\x00x,Client 4,+79160000004"
    path = _write(tmp_path / "bad.csv", "\n".join(rows) + "\n")
    result = read_source(
        _config(path, source_record_id="id", full_name="full_name", phones="phone")
    )
    _check(result)
    assert result.records["source_record_id"].to_list() == ["1", "2", "5"]
    quarantined = result.quarantine.select("source_row", "field", "reason").rows()
    assert quarantined == [
        (4, "full_name", "value longer than 10000 characters: not a contact field"),
        (5, "id", "source record id contains control characters (e.g. NUL)"),
    ]
    assert result.quarantine["raw"].str.len_chars().max() <= 20_000


def test_a_parquet_export_with_wrong_types_is_not_coerced(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "id": [51007659313, 51007659314],
            "names": [["Eric", "Eric"], None],
            "phone": [79161234567.0, None],
            "vip": [True, False],
        }
    ).write_parquet(path)
    result = read_source(
        _config(path, source_record_id="id", full_name="names", phones=["phone", "vip"])
    )
    _check(result)
    records = result.records.select("source_record_id", "full_name", "phones").rows()
    assert records == [("51007659313", None, ["79161234567"]), ("51007659314", None, [])]
    issues = result.issues.select("record_id", "field", "problem", "raw").rows()
    assert issues == [
        ("crm:51007659313", "full_name", "expected text, found List(String)", "Eric; Eric"),
        ("crm:51007659313", "phones", "expected text, found Boolean", "true"),
        ("crm:51007659314", "phones", "expected text, found Boolean", "false"),
    ]


def test_float_ids_are_refused_naming_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "float_ids.parquet"
    pl.DataFrame({"id": [51007659313.0], "name": ["Eric"]}).write_parquet(path)
    with pytest.raises(SourceError, match=r"float_ids.parquet: column 'id' .* holds Float64"):
        read_source(_config(path, source_record_id="id", full_name="name"))
