"""The mechanisms that let matching hold on CRM data it was never tuned on.

Names read by evidence, patronymics and genders that tell people apart, evidence beyond
shared identifiers, a model trained at any size of base (counted u, floors, refusal of an
untrained level), person-counted name frequencies and the cold start.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from splink import DuckDBAPI

from assets.run import run_full_sweep
from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match import check_model_compatible, score_and_cluster
from dedup_pipeline.match.frequencies import person_groups, term_frequency_tables
from dedup_pipeline.match.training import (
    M_FLOOR,
    TrainingReport,
    UntrainedLevelError,
    default_model,
    identifier_u,
    with_floored_m,
)
from dedup_pipeline.normalize.names import parse_names
from dedup_pipeline.samples.benchmark import BenchmarkSettings, generate_benchmark
from tests.conftest import warehouse_tables

CONFIG = """
sources:
  - name: crm
    path: contacts.csv
    default_region: RU
    timestamp_formats: ["%Y-%m-%d %H:%M:%S"]
    columns:
      source_record_id: record_id
      full_name: full_name
      phones: phone
      emails: email
      company: company
      city: city
      created_at: created_at
survivorship: {source_priority: [crm]}
warehouse: {path: out/warehouse.duckdb, memory_limit: 2GB, temp_directory: out/tmp}
output: {directory: out}
"""

# Planted records: (record id, full name, phone, e-mail, company, city).
PLANTED = [
    # A surname-first name with a typo in the first name, and the same client's lead.
    ("P-karpov-1", "Карпов Дмитаий", "+7 912 555-01-01", "", "", "Пермь"),
    ("P-karpov-2", "ДИМА КАРПОВ", "8 (912) 555-01-01", "", "", ""),
    # A father and the son named after him, on the family's home phone.
    ("P-ivanov-1", "Иван Иванович Иванов", "+7 (343) 555-02-02", "", "", "Екатеринбург"),
    ("P-ivanov-2", "Иван Петрович Иванов", "8 343 555 02 02", "", "", "Екатеринбург"),
    # Two namesakes with a common name and only their city in common.
    ("P-namesake-1", "Александр Иванов", "+7 916 555-05-05", "", "", "Москва"),
    ("P-namesake2-1", "Иванов Александр", "+7 903 555-06-06", "", "", "г. Москва"),
    # A returning client: a new mobile and a work address, the same company.
    (
        "P-return-1",
        "Всеволод Ладломанов",
        "+7 916 555-03-03",
        "vsevolod77@mail.ru",
        "ООО «Альфа-Квант»",
        "Москва",
    ),
    (
        "P-return-2",
        "Ладломанов Всеволод Игоревич",
        "+7 926 555-04-04",
        "v.ladlomanov@alfakvant.ru",
        "Альфа-Квант",
        "",
    ),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mechanisms")
    export = generate_benchmark(directory / "gen", BenchmarkSettings(clients=700, seed=11))
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    for record_id, name, phone, email, company, city in PLANTED:
        rows.append(
            {
                "record_id": record_id,
                "full_name": name,
                "phone": phone,
                "email": email,
                "company": company,
                "city": city,
                "created_at": "2024-01-01 10:00:00",
                "truth_client_id": record_id.rsplit("-", 1)[0],
            }
        )
    with (directory / "contacts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config_path = directory / "config.yaml"
    config_path.write_text(CONFIG, encoding="utf-8")
    report = run_full_sweep(config_path)
    tables = warehouse_tables(config_path, "clusters", "contacts")
    return report, tables


def _cluster(tables, record_id: str) -> tuple[str, str]:
    row = tables["clusters"].filter(pl.col("record_id") == f"crm:{record_id}").row(0, named=True)
    return row["cluster_id"], row["outcome"]


def test_a_surname_first_name_with_a_typo_merges_with_the_same_client(run):
    _, tables = run
    contacts = tables["contacts"].filter(pl.col("record_id") == "crm:P-karpov-1")
    assert contacts.row(0, named=True)["last_name_key"] == "karpov"
    assert _cluster(tables, "P-karpov-1") == _cluster(tables, "P-karpov-2")
    assert _cluster(tables, "P-karpov-1")[1] == "auto_merge"


def test_two_ivan_ivanovs_with_different_patronymics_stay_apart(run):
    _, tables = run
    assert _cluster(tables, "P-ivanov-1")[0] != _cluster(tables, "P-ivanov-2")[0]


def test_a_returning_client_with_new_phone_and_email_merges_by_company(run):
    _, tables = run
    assert _cluster(tables, "P-return-1") == _cluster(tables, "P-return-2")
    assert _cluster(tables, "P-return-1")[1] == "auto_merge"


def test_a_common_name_with_only_a_city_in_common_is_not_merged_automatically(run):
    _, tables = run
    (one, outcome_one), (other, outcome_other) = (
        _cluster(tables, "P-namesake-1"),
        _cluster(tables, "P-namesake2-1"),
    )
    # Never one client; with so common a name the pair is not even proposed for review.
    assert one != other
    assert {outcome_one, outcome_other} <= {"unique", "keep_apart", "review"}


def test_the_run_says_which_model_scored_it(run):

    report, _ = run
    assert report.model["source"] == "trained"
    # The identifier levels' u were counted, not sampled.
    assert "phones: A personal phone in common" in report.model["u_from_frequencies"]


# -- names -------------------------------------------------------------------------------


def _parsed(*names: str) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"first_name": None, "middle_name": None, "last_name": None, "full_name": list(names)},
        schema={c: pl.String for c in ("first_name", "middle_name", "last_name", "full_name")},
    )
    return parse_names(frame)


@pytest.mark.parametrize(
    ("name", "first", "middle", "last", "gender"),
    [
        ("Карпов Дмитаий", "dmitai", None, "karpov", "m"),  # surname first, a typo
        ("Дмитрий Сергеевич Карпов", "dmitri", "sergeevich", "karpov", "m"),
        ("Карпова Д. С.", None, None, "karpova", "f"),  # initials, gender from the surname
        ("Алексей Викторович", "aleksei", "viktorovich", None, "m"),  # no surname
        ("Шарова Нина Никиитчна", "nina", "nikitchna", "sharova", "f"),  # patronymic typo
        # Typos on the patronymic's ending: still the patronymic, wherever it stands.
        ("Василий Максимовчи Вербаренцев", "vasili", "maksimovchi", "verbarentsev", "m"),
        ("Екатерина Павловжа Русфирунова", "ekaterina", "pavlovzha", "rusfirunova", "f"),
        ("Оля Сергеенва Фёдорова", "olya", "sergeenva", "fedorova", "f"),
        # A typo of a first name is no patronymic, however close to one.
        ("Валентинна Петрова", "valentinna", None, "petrova", "f"),
        ("David Davidson", "david", None, "davidson", "m"),
        ("Иван Миронов", "ivan", None, "mironov", "m"),  # a surname made from a first name
        ("Petrosyan Armen", "armen", None, "petrosyan", None),  # Armenian surname ending
        ("Сергей Ильич Гладхолов", "sergei", "ilich", "gladholov", "m"),  # a short patronymic
        ("julia nikitina", "yulya", None, "nikitina", "f"),  # a surname, not "Никитична"
        ("Nikolay Orlov", "nikolai", None, "orlov", "m"),  # "й" as y or i: one key
        ("NIKOLAI ORLOV", "nikolai", None, "orlov", "m"),
    ],
)
def test_names_are_read_by_evidence_not_position(name, first, middle, last, gender):
    row = _parsed(name).row(0, named=True)
    assert (row["first_name_key"], row["middle_name_key"], row["last_name_key"]) == (
        first,
        middle,
        last,
    )
    assert row["name_gender"] == gender


def test_a_token_the_tables_do_not_know_is_read_from_the_base():
    # "Тигран" is in no table; beside "Степанов" it is a first name, so "Ким Тигран" is too.
    parsed = _parsed("Тигран Степанов", "Ким Тигран")
    assert parsed.get_column("first_name_key").to_list() == ["tigran", "tigran"]
    assert parsed.get_column("last_name_key").to_list() == ["stepanov", "kim"]


def test_initials_are_kept_as_initials():
    row = _parsed("Karpov D. S.").row(0, named=True)
    assert row["first_name_key"] is None
    assert row["name_initials"] == "ds"


# -- training ----------------------------------------------------------------------------


def _base(pairs: int) -> pl.DataFrame:
    """Records in pairs sharing a personal phone, the rest of their fields empty."""
    from dedup_pipeline.match.prepare import prepare_match_input
    from dedup_pipeline.normalize import normalize_contacts
    from tests.conftest import records_frame, source_record

    syllables = ["ба", "ве", "го", "ду", "жи", "зо", "ка", "ле", "му", "но", "пи", "ро"]
    firsts = ["Иван", "Олег", "Анна", "Ольга", "Пётр", "Мария", "Денис", "Вера"]
    rows = []
    for i in range(pairs):
        phone = f"+7916{i:07d}"
        # A distinct made-up surname per pair ("Бавего"): digits are no part of a name.
        stem = "".join(syllables[(i // 12**k) % 12] for k in range(3))
        first, last = firsts[i % len(firsts)], stem.capitalize() + "ов"

        rows.append(source_record("crm", f"{i}a", first_name=first, last_name=last, phones=[phone]))
        rows.append(source_record("crm", f"{i}b", first_name=first, last_name=last, phones=[phone]))
    contacts = normalize_contacts(records_frame(*rows)).contacts
    return prepare_match_input(contacts, max_block_size=200)[0]


def test_identifier_u_is_counted_where_sampling_sees_no_shared_phone():
    match_input = _base(1500)
    # Two thousand random pairs of three thousand records hold no pair sharing a phone.
    config = MatchConfig(max_pairs_for_u=2_000)
    connection = duckdb.connect()
    result = score_and_cluster(
        match_input,
        db_api=DuckDBAPI(connection),
        config=config,
        auto_merge_threshold=0.99,
        review_threshold=0.8,
    )
    (level,) = [
        level
        for comparison in result.model["comparisons"]
        if comparison["output_column_name"] == "phones"
        for level in comparison["comparison_levels"]
        if level.get("label_for_charts") == "A personal phone in common"
    ]
    assert level["u_probability"] is not None and level["u_probability"] < 1e-3
    assert "phones: A personal phone in common" in result.training.u_from_frequencies
    # Every pair sharing its phone is merged.
    sizes = result.clusters.group_by("strong_cluster_id").len().get_column("len")
    assert sizes.to_list() == [2] * 1500


def _with_shared_phones(switchboard_staff: int) -> pl.DataFrame:
    """A family's home phone (mother and son, three records) and a switchboard of
    ``switchboard_staff`` colleagues, next to a base of pairs."""
    from dedup_pipeline.match.prepare import prepare_match_input
    from dedup_pipeline.normalize import normalize_contacts
    from tests.conftest import records_frame, source_record

    home = "+74957770303"
    family = [
        source_record("crm", "f1", first_name="Мария", last_name="Соколова", phones=[home]),
        source_record("crm", "f2", first_name="Иван", last_name="Соколов", phones=[home]),
        source_record("web", "f3", full_name="Ваня Соколов", phones=[home]),
    ]
    syllables = ["ба", "ве", "го", "ду", "жи", "зо", "ка", "ле", "му", "но", "пи", "ро"]
    firsts = ["Олег", "Анна", "Пётр", "Нина", "Денис", "Вера"]
    staff = [
        source_record(
            "crm", f"s{i}", first_name=firsts[i % len(firsts)],
            last_name="".join(syllables[(i // 12**k) % 12] for k in range(2)).capitalize() + "ин",
            phones=["+74951110000", f"+7903{i:07d}"],
        )
        for i in range(switchboard_staff)
    ]  # fmt: skip
    contacts = normalize_contacts(records_frame(*family, *staff)).contacts
    base = _base(300)
    return pl.concat([base, prepare_match_input(contacts, max_block_size=200)[0]])


def test_u_of_a_personal_phone_leaves_out_the_matches_the_model_finds():
    match_input = _base(400)
    counted = identifier_u(match_input, "phones")["A personal phone in common"]
    result = score_and_cluster(
        match_input,
        db_api=DuckDBAPI(duckdb.connect()),
        config=MatchConfig(),
        auto_merge_threshold=0.99,
        review_threshold=0.8,
    )
    (u,) = [
        level["u_probability"]
        for comparison in result.model["comparisons"]
        if comparison["output_column_name"] == "phones"
        for level in comparison["comparison_levels"]
        if level.get("label_for_charts") == "A personal phone in common"
    ]
    # Every pair sharing a phone is one client: u falls to one non-match in the 400
    # pairs (a correction from the prior alone stopped at a tenth of the count).
    assert u == pytest.approx(counted / 400, rel=0.05)
    assert result.training.identifier_pairs["phones: A personal phone in common"] == 400


def test_non_matches_among_an_identifier_level_come_from_the_scores():
    from dedup_pipeline.match.training import MAX_U_FALL, u_among_scored_non_matches

    model = {
        "comparisons": [
            {
                "output_column_name": "phones",
                "comparison_levels": [
                    {"label_for_charts": "A personal phone in common", "u_probability": 1e-4},
                    {"label_for_charts": "All other comparisons", "u_probability": 0.99},
                ],
            }
        ]
    }
    key = "phones: A personal phone in common"
    # 1,000 pairs share a phone; the model finds 900 matches among them: 100 are not.
    assert u_among_scored_non_matches(model, {key: 1000.0}, {key: 900.0}) == {
        key: pytest.approx(1e-5)
    }
    # Pairs too weak to be scored count as non-matches in full.
    assert u_among_scored_non_matches(model, {key: 1000.0}, {}) == {key: pytest.approx(1e-4)}
    # However sure the model is, u falls no further than MAX_U_FALL.
    assert u_among_scored_non_matches(model, {key: 1e6}, {key: 1e6}) == {
        key: pytest.approx(1e-4 / MAX_U_FALL)
    }


def test_a_family_phone_weighs_the_same_whatever_switchboards_the_base_holds():
    # A big base holds big switchboards; they must not weaken the evidence of a phone a
    # family shares, or accuracy would fall as the base grows.
    alone = identifier_u(_with_shared_phones(0), "phones")
    beside = identifier_u(_with_shared_phones(150), "phones")
    few, common = "Only a little-shared phone in common", "Only a shared phone in common"
    alone_pairs = 600 + 3 + 0
    beside_pairs = 600 + 3 + 150
    # The family's three pairs, over all pairs of records with a phone, either way.
    assert alone[few] == pytest.approx(3 / (alone_pairs * (alone_pairs - 1) / 2))
    assert beside[few] == pytest.approx(3 / (beside_pairs * (beside_pairs - 1) / 2))
    assert beside[common] == pytest.approx(150 * 149 / 2 / (beside_pairs * (beside_pairs - 1) / 2))
    # A switchboard is never stronger evidence than a home phone, even where none exists.
    assert alone[common] >= alone[few]


def test_a_model_with_an_untrained_level_is_refused_naming_it():
    model = default_model()
    check_model_compatible(model, MatchConfig())  # the shipped model fits the comparisons
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("label_for_charts") == "A personal e-mail in common":
                level["u_probability"] = None
    with pytest.raises(UntrainedLevelError, match="emails: A personal e-mail in common"):
        check_model_compatible(model, MatchConfig())


def test_m_floor_limits_a_veto_but_never_makes_a_rare_level_evidence():
    model = {
        "comparisons": [
            {
                "output_column_name": "city",
                "comparison_levels": [
                    {"is_null_level": True, "sql_condition": "null"},
                    {"label_for_charts": "same", "m_probability": 0.98, "u_probability": 0.07},
                    {"label_for_charts": "rare", "m_probability": 1e-9, "u_probability": 1e-6},
                    {"label_for_charts": "else", "m_probability": 1e-12, "u_probability": 0.93},
                ],
            }
        ]
    }
    levels = with_floored_m(model, None, TrainingReport())["comparisons"][0]["comparison_levels"]
    same, rare, other = (level["m_probability"] for level in levels[1:])
    assert other == pytest.approx(M_FLOOR, rel=0.05)  # a different city no longer a veto
    assert rare <= 1e-6 * 1.05  # raised only to its u: it weighs nothing, not 13 bits
    assert same + rare + other == pytest.approx(1.0)


def test_a_level_filled_from_the_default_model_takes_nothing_from_the_measured_ones():
    # A base without written companies: EM saw only the mail-domain levels.
    def company(same, domain, other):
        levels = [
            {"label_for_charts": label, "m_probability": m, "u_probability": u}
            for label, m, u in [
                ("same", same, 1e-3),
                ("domain", domain, 2e-3),
                ("else", other, 0.99),
            ]
        ]
        null = {"is_null_level": True, "sql_condition": "null"}
        return {
            "comparisons": [{"output_column_name": "company", "comparison_levels": [null, *levels]}]
        }

    report = TrainingReport()
    filled = with_floored_m(company(None, 0.76, 0.24), company(0.4, 0.1, 0.5), report)
    same, domain, other = (
        level["m_probability"] for level in filled["comparisons"][0]["comparison_levels"][1:]
    )
    assert report.m_from_default == ["company: same"]
    assert same == 0.4  # the default model's, for a later record with a company
    assert (domain, other) == (pytest.approx(0.76), pytest.approx(0.24))  # as measured


def _people(names: list[tuple[str, int]]) -> pl.DataFrame:
    """Records with a first name: (name, records) per person; they share a phone."""
    rows = [
        (f"{person}-{copy}", [f"+7916000{person:04d}"], first)
        for person, (first, copies) in enumerate(names)
        for copy in range(copies)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "record_id": pl.String,
            "phones_personal": pl.List(pl.String),
            "first_name": pl.String,
        },
        orient="row",
    ).with_columns(
        emails_personal=pl.lit(None, dtype=pl.List(pl.String)),
        last_name=pl.lit(None, dtype=pl.String),
    )


def test_a_name_counts_once_per_person_not_per_record():
    others = [(f"name{i}", 1) for i in range(300)]

    def tf(people: list[tuple[str, int]]) -> float:
        table = term_frequency_tables(_people(people), ["first_name"])["first_name"]
        return table.filter(pl.col("first_name") == "ivan").item(0, "tf_first_name")

    # Three records of one client do not make a name three times as common.
    assert tf([("ivan", 3), *others]) == pytest.approx(tf([("ivan", 1), *others]))
    # Two people holding it do, and it is rarer than one of five people's.
    assert tf([("ivan", 1), ("ivan", 1), *others]) > 1.5 * tf([("ivan", 1), *others])
    assert tf([("ivan", 1), ("ivan", 1), *others]) < tf([("ivan", 1)] * 5 + others)


def _records(names: list[tuple[str, str]]) -> pl.DataFrame:
    """One record per (first name, surname), each with a phone of its own."""
    return pl.DataFrame(
        {
            "record_id": [str(i) for i in range(len(names))],
            "phones_personal": [[f"+7916{i:07d}"] for i in range(len(names))],
            "emails_personal": [None] * len(names),
            "first_name": [first for first, _ in names],
            "last_name": [last for _, last in names],
        },
        schema_overrides={"emails_personal": pl.List(pl.String)},
    )


def test_a_client_back_with_new_phones_is_one_person_where_the_name_is_rare():
    others = [(f"first{i}", f"last{i}") for i in range(300)]
    records = _records([("денис", "кузьмин")] * 3 + others)
    people = records.join(person_groups(records), on="record_id")
    # Three phones, one name nobody else has: one person, so the surname stays rare.
    assert people.head(3).get_column("person").n_unique() == 1
    assert people.get_column("person").n_unique() == 301
    tf = term_frequency_tables(records, ["last_name"])["last_name"]
    rare = tf.filter(pl.col("last_name") == "кузьмин").item(0, "tf_last_name")
    assert rare == pytest.approx(tf.filter(pl.col("last_name") == "last0").item(0, "tf_last_name"))


def test_a_common_name_stays_many_people():
    # 40 Ivanovs, half of them Alexanders, among 300 others: the base expects
    # 20 * 40 / 340 > 1 people named "Александр Иванов", so the name ties no records.
    ivanovs = [("александр", "иванов")] * 20 + [(f"first{i}", "иванов") for i in range(20)]
    others = [(f"first{i}", f"last{i}") for i in range(20, 320)]
    records = _records(ivanovs + others)
    people = person_groups(records)
    assert people.get_column("person").n_unique() == records.height


def test_a_five_record_file_merges_with_the_default_model(tmp_path: Path):
    rows = [
        ("1", "Иван Петров", "+7 912 345-67-89", "", "Москва"),
        ("2", "Петров Иван", "89123456789", "", ""),
        ("3", "Анна Смирнова", "+7 916 000-11-22", "anna@yandex.ru", "Казань"),
        ("4", "Олег Волков", "+7 903 777-88-99", "", "Тула"),
        ("5", "Мария Лосева", "+7 903 555-44-33", "", ""),
    ]
    lines = ["record_id,full_name,phone,email,company,city,created_at"]
    lines += [f"{i},{n},{p},{e},,{c},2024-01-01 10:00:00" for i, n, p, e, c in rows]
    (tmp_path / "contacts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    report = run_full_sweep(tmp_path / "config.yaml")
    clusters = warehouse_tables(tmp_path / "config.yaml", "clusters")["clusters"]
    assert report.model["source"] == "default"
    assert "5 records" in report.model["reason"]
    one = clusters.filter(pl.col("record_id").is_in(["crm:1", "crm:2"]))
    assert one.get_column("cluster_id").n_unique() == 1
    assert one.get_column("outcome").unique().to_list() == ["auto_merge"]
    assert clusters.get_column("cluster_id").n_unique() == 4
    saved = json.loads((tmp_path / "out" / "splink_model.json").read_text(encoding="utf-8"))
    check_model_compatible(saved, MatchConfig())
