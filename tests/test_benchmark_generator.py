"""The benchmark generator: each difficulty setting does what it says, reproducibly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dedup_pipeline.samples import benchmark_pools as pools
from dedup_pipeline.samples.benchmark import (
    TRUTH_COLUMN,
    BenchmarkSettings,
    generate_benchmark,
    matrix_settings,
)

PLAIN = {"typos": 0.0, "latin": 0.0, "diminutive": 0.0, "single_name": 0.0}
FIRST_NAMES = {name for name, _ in (*pools.MALE_NAMES, *pools.FEMALE_NAMES)}


def _export(tmp_path: Path, **settings) -> pl.DataFrame:
    path = generate_benchmark(tmp_path, BenchmarkSettings(clients=600, **settings))
    return pl.read_csv(path, infer_schema=False)


def test_same_settings_give_the_same_file(tmp_path: Path) -> None:
    first = generate_benchmark(tmp_path / "a", BenchmarkSettings(clients=300, seed=5))
    second = generate_benchmark(tmp_path / "b", BenchmarkSettings(clients=300, seed=5))
    third = generate_benchmark(tmp_path / "c", BenchmarkSettings(clients=300, seed=6))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != third.read_bytes()


def test_every_record_has_a_truth_and_a_way_back(tmp_path: Path) -> None:
    export = _export(tmp_path)
    assert export.get_column("record_id").is_unique().all()
    assert export.get_column(TRUTH_COLUMN).null_count() == 0
    assert export.filter(pl.col("phone").is_null() & pl.col("email").is_null()).is_empty()
    per_client = export.group_by(TRUTH_COLUMN).len().get_column("len")
    assert 1.8 < per_client.mean() < 2.4
    assert per_client.max() <= 5


def test_surname_first_puts_the_first_name_second(tmp_path: Path) -> None:
    export = _export(tmp_path, surname_first=1.0, patronymic=0.0, **PLAIN)
    tokens = export.get_column("full_name").str.split(" ")
    full = tokens.filter(tokens.list.len() == 2)
    second = full.list.get(1).str.to_titlecase()
    # Initials ("Петров И.") and upper-cased names aside, the first name comes second.
    assert second.is_in(list(FIRST_NAMES)).mean() > 0.85


def test_patronymics_appear_as_often_as_asked(tmp_path: Path) -> None:
    endings = r"(вич|вна|ична|ич)\.?$"
    never = _export(tmp_path / "0", patronymic=0.0, **PLAIN)
    always = _export(tmp_path / "1", patronymic=1.0, **PLAIN)
    with_patronymic = (
        always.get_column("full_name")
        .str.split(" ")
        .list.eval(pl.element().str.to_lowercase().str.contains(endings))
        .list.any()
    )
    assert (
        not never.get_column("full_name").str.to_lowercase().str.contains(r"(вич|вна)( |$)").any()
    )
    assert with_patronymic.mean() > 0.9


def test_returns_with_new_identifiers_share_neither_phone_nor_email(tmp_path: Path) -> None:
    def linked_share(export: pl.DataFrame) -> float:
        """Share of clients' later records sharing a phone or e-mail with another record."""
        repeat = export.filter(pl.len().over(TRUTH_COLUMN) > 1).with_columns(
            phone=pl.col("phone").str.replace_all(r"\D", "").str.slice(-10),
            email=pl.col("email").str.to_lowercase(),
        )
        linked = pl.concat(
            [
                repeat.drop_nulls(column)
                .filter(pl.len().over(TRUTH_COLUMN, column) > 1)
                .select("record_id")
                for column in ("phone", "email")
            ]
        ).unique()
        return linked.height / repeat.height

    assert (
        linked_share(_export(tmp_path / "a", new_identifiers=0.0))
        > linked_share(_export(tmp_path / "b", new_identifiers=0.9)) + 0.3
    )


def test_namesakes_grow_with_the_name_skew(tmp_path: Path) -> None:
    def namesake_share(export: pl.DataFrame) -> float:
        first = export.unique(TRUTH_COLUMN)
        return (first.group_by("full_name").len().get_column("len") > 1).mean()

    flat = _export(tmp_path / "a", name_zipf=0.6, surname_first=0.0, patronymic=0.0, **PLAIN)
    skewed = _export(
        tmp_path / "b", name_zipf=1.4, surname_pool=300, surname_first=0.0, patronymic=0.0, **PLAIN
    )
    assert namesake_share(skewed) > 2 * namesake_share(flat)


def test_family_hard_negatives_are_planted(tmp_path: Path) -> None:
    export = _export(tmp_path, family=0.3)
    phones = export.drop_nulls("phone").with_columns(
        digits=pl.col("phone").str.replace_all(r"\D", "").str.slice(-10)
    )
    shared = phones.group_by("digits").agg(pl.col(TRUTH_COLUMN).n_unique().alias("clients"))
    assert (shared.get_column("clients") > 1).sum() > 20


@pytest.mark.parametrize(
    ("father", "female", "expected"),
    [
        ("Сергей", False, "Сергеевич"),
        ("Юрий", True, "Юрьевна"),
        ("Илья", False, "Ильич"),
        ("Никита", True, "Никитична"),
        ("Иван", True, "Ивановна"),
        ("Игорь", False, "Игоревич"),
        ("Михаил", False, "Михайлович"),
    ],
)
def test_patronymics_follow_russian_rules(father: str, female: bool, expected: str) -> None:
    assert pools.patronymic(father, female=female) == expected


def test_the_matrix_varies_one_axis_at_a_time() -> None:
    cells = matrix_settings(1000, seeds=(1,))
    labels = [cell.label() for cell in cells]
    assert labels[0] == "default"
    assert len(set(labels)) == len(labels)
    assert all(label.count("=") <= 2 for label in labels)
