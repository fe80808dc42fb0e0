"""Data health: completeness, invalid values, duplicates and quarantine, per source."""

import polars as pl
import pytest

from dedup_pipeline.health import data_health

_LIST = pl.List(pl.String)


def _contacts() -> pl.DataFrame:
    rows = [
        # source, first, last, phones written, invalid phones, emails written, invalid
        ("crm:1", "crm", "Анна", "Ли", ["8 912 1"], ["8 912 1"], ["a@x.ru"], []),
        ("crm:2", "crm", "Анна", None, ["+79120000000"], [], [], []),
        ("crm:3", "crm", None, "", [], [], ["bad@"], ["bad@"]),
        ("web:1", "web", None, None, ["+79120000000"], [], ["a@x.ru"], []),
    ]
    columns = ["record_id", "source", "first_name", "last_name", "phones", "phones_invalid"]
    columns += ["emails", "emails_invalid"]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    return frame.with_columns(
        full_name=pl.lit(None, pl.String), company=pl.lit(None, pl.String), city=pl.lit("Пермь")
    ).cast({c: _LIST for c in ("phones", "phones_invalid", "emails", "emails_invalid")})


def test_health_measures_each_source_and_all():
    clusters = pl.DataFrame(
        {
            "record_id": ["crm:1", "crm:2", "crm:3", "web:1"],
            "cluster_id": ["A", "B", "C", "A"],
            "cluster_size": [2, 1, 1, 2],
            "outcome": ["auto_merge", "unique", "unique", "auto_merge"],
        }
    )
    quarantine = pl.DataFrame(
        {"source": ["web", "web", "crm"], "reason": ["invalid JSON"] * 2 + ["no id"]}
    )
    health = data_health(contacts=_contacts(), clusters=clusters, quarantine=quarantine)
    rows = {row["source"]: row for row in health.per_source.iter_rows(named=True)}
    assert list(rows) == ["crm", "web", "all"]
    crm, everything = rows["crm"], rows["all"]
    assert (crm["rows"], crm["records"], crm["quarantined"]) == (4, 3, 1)
    assert crm["first_name_filled"] == pytest.approx(2 / 3)
    assert crm["last_name_filled"] == pytest.approx(1 / 3)  # an empty string is no value
    assert crm["invalid_phone_share"] == pytest.approx(1 / 2)
    assert crm["invalid_email_share"] == pytest.approx(1 / 2)
    assert crm["duplicate_share"] == pytest.approx(1 / 3)
    assert (rows["web"]["rows"], rows["web"]["quarantined"]) == (3, 2)
    assert (everything["rows"], everything["records"], everything["quarantined"]) == (7, 4, 3)
    assert everything["duplicate_share"] == pytest.approx(2 / 4)
    assert health.overall()["city_filled"] == 1.0
    assert health.cluster_sizes.rows() == [(1, 2), (2, 1)]
    assert health.outcomes.rows() == [("auto_merge", 1, 2), ("unique", 2, 2)]
    assert health.quarantine_reasons.row(0) == ("web", "invalid JSON", 2)


def test_flagged_records_are_counted_per_source_and_reason():
    clusters = pl.DataFrame(
        {
            "record_id": ["crm:1", "crm:2", "crm:3", "web:1"],
            "cluster_id": ["A", "B", "C", "D"],
            "cluster_size": [1, 1, 1, 1],
            "outcome": ["unique", "flagged", "flagged", "flagged"],
        }
    )
    flagged = pl.DataFrame(
        {
            "record_id": ["crm:2", "crm:3", "web:1"],
            "source": ["crm", "crm", "web"],
            "reasons": [["junk"], ["blacklisted_email", "junk"], ["junk"]],
        }
    )
    quarantine = pl.DataFrame(schema={"source": pl.String, "reason": pl.String})
    health = data_health(
        contacts=_contacts(), clusters=clusters, quarantine=quarantine, flagged=flagged
    )
    assert dict(health.per_source.select("source", "flagged").iter_rows()) == {
        "crm": 2,
        "web": 1,
        "all": 3,
    }
    assert health.flag_reasons.rows() == [
        ("crm", "junk", 2),
        ("crm", "blacklisted_email", 1),
        ("web", "junk", 1),
    ]
    assert health.outcomes.filter(pl.col("outcome") == "flagged").row(0) == ("flagged", 3, 3)
