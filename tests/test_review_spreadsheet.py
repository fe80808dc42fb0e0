"""The review queue out to a spreadsheet and the filled-in decisions back."""

import csv
import io
import re

import polars as pl
import pytest

from dedup_pipeline.review.spreadsheet import (
    SheetError,
    queue_sheet,
    read_decision_sheet,
    write_sheet,
)

QUEUE = pl.DataFrame(
    {
        "review_cluster_id": ["p1", "p2", "p3"],
        "record_ids": [["a", "b"], ["c", "d", "e"], ["f", "g"]],
        "priority": [1, 2, 3],
        "reason": ["linked by review-band pairs"] * 3,
    }
)
CONTACTS = pl.DataFrame(
    {
        "record_id": list("abcdefg"),
        "source": ["crm"] * 7,
        "source_record_id": list("abcdefg"),
        "first_name": ["Иван"] * 7,
        "middle_name": [None] * 7,
        "last_name": ["Петров"] * 7,
        "full_name": [None] * 7,
        "phones": [["8 912 000-00-00"]] * 7,
        "emails": [[]] * 7,
        "extra": [None] * 7,
        "phones_e164": [["+79120000000"]] * 7,
        "emails_normalized": [[]] * 7,
        "company": [None] * 7,
        "city": ["Москва"] * 7,
    }
)
CLUSTERS = pl.DataFrame(
    {"record_id": list("abcdefg"), "cluster_id": list("abcdefg"), "outcome": ["review"] * 7}
)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_filled_in_decisions_come_back(tmp_path, suffix):
    sheet = queue_sheet(QUEUE, CONTACTS, CLUSTERS)
    assert sheet.height == 7 and sheet.get_column("decision").null_count() == 7
    filled = sheet.with_columns(
        decision=pl.when(pl.col("review_cluster_id") == "p1")
        .then(pl.lit("approve"))
        .when(pl.col("review_cluster_id") == "p2")
        .then(pl.lit("split")),
        group=pl.when(pl.col("record_id").is_in(["c", "d"]))
        .then(pl.lit("1"))
        .when(pl.col("record_id") == "e")
        .then(pl.lit("2")),
        survivor=pl.when(pl.col("record_id") == "b").then(pl.lit("x")),
    )
    path = write_sheet(filled, tmp_path / f"queue{suffix}")
    result = read_decision_sheet(path, reviewer="alice", review_queue=QUEUE)
    assert result.problems == []
    by_proposal = {d.review_cluster_id: d for d in result.decisions}
    assert set(by_proposal) == {"p1", "p2"}  # p3 was left blank
    assert by_proposal["p1"].action == "approve" and by_proposal["p1"].survivor_record_id == "b"
    assert by_proposal["p2"].groups == [["c", "d"], ["e"]]
    assert {d.reviewer for d in result.decisions} == {"alice"}
    # The decision remembers which version of each record the reviewer saw.
    versions = dict(sheet.select("record_id", "record_version").iter_rows())
    assert by_proposal["p1"].record_versions == {"a": versions["a"], "b": versions["b"]}


def test_problems_name_the_file_row_and_column(tmp_path):
    sheet = queue_sheet(QUEUE, CONTACTS, CLUSTERS).with_columns(
        decision=pl.when(pl.col("record_id") == "a")
        .then(pl.lit("approve"))
        .when(pl.col("record_id") == "b")
        .then(pl.lit("reject"))
        .when(pl.col("review_cluster_id") == "p2")
        .then(pl.lit("merge"))
        .when(pl.col("review_cluster_id") == "p3")
        .then(pl.lit("split")),
    )
    path = write_sheet(sheet, tmp_path / "queue.csv")
    changed = QUEUE.with_columns(
        pl.when(pl.col("review_cluster_id") == "p3")
        .then(pl.lit(["f", "g", "h"]))
        .otherwise(pl.col("record_ids"))
        .alias("record_ids")
    )
    result = read_decision_sheet(path, reviewer="alice", review_queue=changed)
    assert result.decisions == []
    assert result.problems == [
        f"{path}: row 2, decision: proposal p1 needs one decision on every row",
        f"{path}: row 4, action: Input should be 'approve', 'reject' or 'split'",
        f"{path}: row 7, record_id: proposal p3 changed since the export; export the queue again",
    ]


def test_a_sheet_without_the_key_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,phone\nIvan,1\n", encoding="utf-8")
    with pytest.raises(SheetError, match="missing column"):
        read_decision_sheet(path, reviewer="alice", review_queue=QUEUE)


def test_a_csv_sheet_is_safe_to_open_and_still_reads_back(tmp_path):
    # A contact named like a formula, and a record id a CRM let start with "=".
    queue = QUEUE.with_columns(
        record_ids=pl.when(pl.col("review_cluster_id") == "p1")
        .then(pl.lit(["=a1", "b"]))
        .otherwise("record_ids")
    )
    contacts = CONTACTS.with_columns(
        record_id=pl.col("record_id").replace("a", "=a1"),
        first_name=pl.when(pl.col("record_id") == "b")
        .then(pl.lit('=HYPERLINK("http://x","y")'))
        .otherwise("first_name"),
    )
    clusters = CLUSTERS.with_columns(record_id=pl.col("record_id").replace("a", "=a1"))
    sheet = queue_sheet(queue, contacts, clusters).with_columns(
        decision=pl.when(pl.col("review_cluster_id") == "p1").then(pl.lit("approve"))
    )
    path = write_sheet(sheet, tmp_path / "queue.csv")
    text = path.read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    # Only plain numbers and phones may start like a formula: they call nothing.
    risky = [c for c in cells if c[:1] in "=+-@" and not re.fullmatch(r"[+\-]?[0-9\s().\-]*", c)]
    assert risky == []
    assert "'=HYPERLINK" in text and "'=a1" in text
    assert "+79120000000" in cells  # a phone stays as written
    result = read_decision_sheet(path, reviewer="alice", review_queue=queue)
    assert result.problems == []
    assert result.decisions[0].review_cluster_id == "p1"
