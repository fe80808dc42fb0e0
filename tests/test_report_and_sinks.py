import polars as pl
import pytest

from dedup_pipeline.report import AccountingError, SourceSummary, account_for_records
from dedup_pipeline.schema import empty_quarantine
from dedup_pipeline.sinks import flatten_for_csv, read_table, table_directory, write_table
from dedup_pipeline.sinks.files import write_exports


def summaries(rows_read: int) -> list[SourceSummary]:
    return [
        SourceSummary(name="crm", file="crm.csv", rows_read=rows_read, records=3, quarantined=0)
    ]


def clusters(*record_ids: str) -> pl.DataFrame:
    return pl.DataFrame({"record_id": list(record_ids), "cluster_id": ["c"] * len(record_ids)})


def test_accounting_balances_when_every_row_is_somewhere():
    accounting = account_for_records(summaries(3), clusters("a", "b", "c"), empty_quarantine())
    assert accounting.balanced
    assert (accounting.records_in, accounting.records_clustered) == (3, 3)


def test_a_lost_record_fails_the_run():
    with pytest.raises(AccountingError, match="4 rows read but 3 clustered"):
        account_for_records(summaries(4), clusters("a", "b", "c"), empty_quarantine())


def test_a_record_in_two_clusters_fails_the_run():
    with pytest.raises(AccountingError, match="more than one cluster"):
        account_for_records(summaries(3), clusters("a", "a", "b"), empty_quarantine())


def test_csv_flattening_joins_lists_and_splits_structs():
    frame = pl.DataFrame(
        {
            "ids": [["1", "2"]],
            "set_fields": [{"city": "Москва", "phones": ["+79123456789", "+79161112233"]}],
        }
    )
    flat = flatten_for_csv(frame)
    assert flat.row(0, named=True) == {
        "ids": "1|2",
        "set_fields.city": "Москва",
        "set_fields.phones": "+79123456789|+79161112233",
    }


def test_exports_write_parquet_for_all_and_csv_for_people(tmp_path):
    tables = {"golden_profiles": pl.DataFrame({"a": [1]}), "contacts": pl.DataFrame({"b": [2]})}
    written = write_exports(tables, tmp_path)
    assert set(written) == {"golden_profiles.parquet", "golden_profiles.csv", "contacts.parquet"}
    assert pl.read_parquet(written["contacts.parquet"]).item() == 2


@pytest.mark.parametrize(
    ("value", "in_csv"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1,1)", "'@SUM(1,1)"),
        ("\t=1+1", "'\t=1+1"),
        ("＝1+1", "'＝1+1"),  # full-width: some spreadsheets fold it to "="
        ("+7 (912) 345-67-89", "+7 (912) 345-67-89"),  # a phone calls nothing
        ("Иван Петров", "Иван Петров"),
    ],
)
def test_csv_exports_are_safe_to_open_and_parquet_stays_exact(tmp_path, value, in_csv):
    tables = {
        "golden_profiles": pl.DataFrame({"full_name": [value], "phones": [[value]]}),
        "review_queue": pl.DataFrame({"reason": [value]}),
    }
    written = write_exports(tables, tmp_path)
    for name, column in (("golden_profiles", "full_name"), ("review_queue", "reason")):
        csv = pl.read_csv(written[f"{name}.csv"], infer_schema=False)
        assert csv.get_column(column).item() == in_csv
        assert pl.read_parquet(written[f"{name}.parquet"]).get_column(column).item() == value
    profiles = pl.read_csv(written["golden_profiles.csv"], infer_schema=False)
    assert profiles.get_column("phones").item() == in_csv


def test_exports_copy_a_table_the_warehouse_holds_as_parquet(tmp_path):
    stored = tmp_path / "warehouse_tables" / "contacts.parquet"
    stored.parent.mkdir()
    pl.DataFrame({"b": [2, 3]}).write_parquet(stored)
    tables = {"contacts": pl.DataFrame({"b": [2, 3]}), "golden_profiles": pl.DataFrame({"a": [1]})}

    written = write_exports(
        tables,
        tmp_path / "out",
        parquet_copies={"contacts": stored, "golden_profiles": stored.with_name("missing.parquet")},
    )

    assert written["contacts.parquet"].read_bytes() == stored.read_bytes()
    assert pl.read_parquet(written["golden_profiles.parquet"]).item() == 1  # no copy: written
    # A copy, not a link: the next run replacing the warehouse file leaves the export be.
    pl.DataFrame({"b": [9]}).write_parquet(stored)
    assert pl.read_parquet(written["contacts.parquet"])["b"].to_list() == [2, 3]
    assert not list((tmp_path / "out").glob("*.partial"))


def test_warehouse_round_trip_keeps_types(tmp_path):
    import duckdb

    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    frame = pl.DataFrame(
        {"id": ["a"], "phones": [["+7912"]], "size": pl.Series([3], dtype=pl.UInt32)}
    )
    write_table(connection, "golden", frame)
    write_table(connection, "golden", frame)  # replaced, not appended
    assert read_table(connection, "golden").equals(frame)
    with pytest.raises(ValueError, match="not a valid warehouse table name"):
        write_table(connection, "x; drop table golden", frame)


def test_warehouse_tables_as_parquet_are_still_queried_by_name(tmp_path):
    import duckdb

    database = tmp_path / "w.duckdb"
    directory = table_directory(database)
    connection = duckdb.connect(str(database))
    frame = pl.DataFrame(
        {"id": ["a", "b"], "phones": [["+7912"], []], "size": pl.Series([3, 1], dtype=pl.UInt32)}
    )
    write_table(connection, "golden", frame)  # a table of an older warehouse ...
    write_table(connection, "golden", frame, directory=directory)  # ... becomes a view
    write_table(connection, "golden", frame.head(1), directory=directory)  # replaced

    assert (directory / "golden.parquet").is_file()
    assert read_table(connection, "golden", directory=directory).equals(frame.head(1))
    # SQL users see the same rows under the same name, from another connection too.
    connection.close()
    with duckdb.connect(str(database), read_only=True) as reader:
        assert reader.sql("select id, size from golden").fetchall() == [("a", 3)]
        assert read_table(reader, "golden").equals(frame.head(1))
