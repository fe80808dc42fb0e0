"""Splink matching on a small hand-made population with known duplicates."""

import random

import duckdb
import polars as pl
import pytest
from splink import DuckDBAPI

from dedup_pipeline.config import MatchConfig
from dedup_pipeline.match import (
    BlockingExplosionError,
    prepare_match_input,
    score_and_cluster,
)
from dedup_pipeline.normalize import normalize_contacts
from tests.conftest import records_frame, source_record

FIRST = [
    "Иван",
    "Пётр",
    "Анна",
    "Мария",
    "Олег",
    "Юлия",
    "Сергей",
    "Ольга",
    "Денис",
    "Елена",
    "Никита",
    "Полина",
    "Роман",
    "Вера",
    "Глеб",
]
LAST = [
    "Петров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Соколов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Волков",
    "Зайцев",
    "Павлов",
    "Семенов",
    "Голубев",
    "Виноградов",
    "Богданов",
]


def population(people: int = 160, seed: int = 3) -> tuple[pl.DataFrame, dict[str, int]]:
    rng = random.Random(seed)
    records, truth = [], {}
    for person in range(people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"+7912{person:07d}"
        email = f"client{person}@mail.ru"
        copies = 2 if person % 2 == 0 else 1
        for copy in range(copies):
            source = "crm" if copy == 0 else "web"
            rid = f"{person}-{copy}"
            fields = {"first_name": first, "last_name": last, "city": "Москва"}
            if copy == 1:
                fields["phones"] = [f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"]
                fields["emails"] = [email.upper()] if person % 4 == 0 else []
            else:
                fields["phones"] = [phone]
                fields["emails"] = [email]
            records.append(source_record(source, rid, **fields))
            truth[f"{source}:{rid}"] = person
    return records_frame(*records), truth


def score(match_input: pl.DataFrame, **options):
    """Score on a fresh in-memory DuckDB with the default thresholds unless overridden."""
    settings = {
        "config": MatchConfig(),
        "auto_merge_threshold": 0.99,
        "review_threshold": 0.8,
        **options,
    }
    return score_and_cluster(match_input, db_api=DuckDBAPI(duckdb.connect()), **settings)


@pytest.fixture(scope="module")
def matched():
    records, truth = population()
    contacts = normalize_contacts(records).contacts
    match_input, shared = prepare_match_input(contacts, max_block_size=50)
    return score(match_input), truth, shared


def test_known_duplicates_share_a_strong_cluster(matched):
    result, truth, _ = matched
    clusters = dict(result.clusters.select("record_id", "strong_cluster_id").iter_rows())
    duplicated_people = [p for p in range(0, 160, 2)]
    together = sum(clusters[f"crm:{p}-0"] == clusters[f"web:{p}-1"] for p in duplicated_people)
    assert together / len(duplicated_people) >= 0.95
    assert result.clusters.height == len(truth)


def test_distinct_people_are_not_merged(matched):
    result, truth, _ = matched
    merged = result.clusters.group_by("strong_cluster_id").agg(pl.col("record_id"))
    for members in merged.get_column("record_id"):
        assert len({truth[m] for m in members}) == 1


def test_pairs_carry_match_weights_per_comparison(matched):
    result, _, _ = matched
    assert {"mw_phones", "mw_emails", "mw_city"} <= set(result.scored_pairs.columns)
    assert set(result.scored_pairs.get_column("match_key")) <= {
        "same phone",
        "same e-mail",
        "same first and last name",
        "first and last name swapped",
    }
    assert result.comparison_counts.get_column("blocking_rule").to_list()[0] == "same phone"


def test_trained_model_can_be_reused(matched):
    result, _, _ = matched
    records, _ = population(people=20, seed=9)
    contacts = normalize_contacts(records).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=50)
    again = score(match_input, model=result.model)
    # 20 people, every other one with a second record: 30 records, 20 clients.
    assert again.clusters.height == 30
    assert again.clusters.get_column("strong_cluster_id").n_unique() == 20


def test_switchboard_phone_is_not_used_for_blocking():
    records = records_frame(
        *[
            source_record("crm", str(i), first_name=f"Name{i}", phones=["+74951234567"])
            for i in range(6)
        ]
    )
    contacts = normalize_contacts(records).contacts
    match_input, shared = prepare_match_input(contacts, max_block_size=5)
    assert shared.row(0, named=True) == {
        "kind": "phone",
        "value": "+74951234567",
        "record_count": 6,
        "reason": "held by more than 5 records",
        "blocked": False,
    }
    assert match_input.get_column("phones_block").null_count() == 6
    assert match_input.get_column("phones").null_count() == 0  # still compared


def test_blocking_explosion_is_refused():
    records = records_frame(
        *[source_record("crm", str(i), first_name="Иван", last_name="Иванов") for i in range(30)]
    )
    contacts = normalize_contacts(records).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=1000)
    with pytest.raises(BlockingExplosionError, match=r"same first and last name.*435 pairs"):
        score(match_input, config=MatchConfig(max_comparisons_per_rule=100))


def test_role_mailbox_is_not_evidence_of_identity():
    records = records_frame(
        source_record("crm", "1", first_name="Анна", emails=["info@romashka.ru", "anna@mail.ru"]),
        source_record("crm", "2", first_name="Олег", emails=["INFO@romashka.ru"]),
        source_record("crm", "3", first_name="Вера", emails=["vera.info@mail.ru"]),
    )
    contacts = normalize_contacts(records).contacts
    match_input, shared = prepare_match_input(contacts, max_block_size=50)
    personal = dict(match_input.select("record_id", "emails_personal").iter_rows())
    assert personal == {
        "crm:1": ["anna@mail.ru"],
        "crm:2": None,
        "crm:3": ["vera.info@mail.ru"],  # a personal address that merely contains "info"
    }
    assert shared.filter(pl.col("reason") == "role mailbox").rows() == [
        ("email", "info@romashka.ru", 2, "role mailbox", True)
    ]
    # The mailbox stays on the contact (and so on the golden profile).
    assert contacts.row(1, named=True)["emails_normalized"] == ["info@romashka.ru"]


#: First names of `test_name_conflict_sql_flags_names_of_different_people` no table lists.
_UNLISTED = {"toma", "ian", "mrya"}


def _initials(side: tuple) -> tuple:
    """A side as the table holds it; a seventh item is a patronymic's initial alone."""
    first, last, variants, patronymic, initial, gender, *written = side
    initials = [initial] if isinstance(initial, str) else initial
    middle_initial = written[0] if written else (patronymic or "")[:1] or None
    listed = None if first is None else first not in _UNLISTED
    return first, last, variants, listed, patronymic, initials, middle_initial, gender


def test_name_conflict_sql_flags_names_of_different_people():
    import duckdb as db

    from dedup_pipeline.match import name_conflict_sql

    # first, last, variants, patronymic, first initial, gender: left, then right.
    rows = [
        (("mary", "baker", [], None, "m", None), ("james", "brown", [], None, "j", None), True),
        (("ivan", "petrov", [], None, "i", "m"), ("ivan", "petrov", [], None, "i", "m"), False),
        # family members on one home phone
        (
            ("nicholas", "brown", [], None, "n", None),
            ("patricia", "brown", [], None, "p", None),
            True,
        ),
        (
            ("sasha", "petrov", ["aleksandr", "sasha"], None, "s", "m"),
            ("aleksandr", "petrov", ["aleksandr"], None, "a", "m"),
            False,
        ),
        # swapped, diminutive
        (
            ("ivanov", "serezha", [], None, "i", "m"),
            ("sergei", "ivanov", [], None, "s", "m"),
            False,
        ),
        # a missing name is no evidence
        (("olga", None, [], None, "o", "f"), (None, "petrova", [], None, None, "f"), False),
        # one office line
        (
            ("valentina", None, [], None, "v", "f"),
            ("aleksandr", "andreev", [], None, "a", "m"),
            True,
        ),
        (("mary", "morris", [], None, "m", None), ("mary", "smith", [], None, "m", None), True),
        (("ivan", "petrov", [], None, "i", "m"), ("ivan", "petrof", [], None, "i", "m"), False),
        # a father and the son named after him: only the patronymic differs
        (
            ("ivan", "ivanov", [], "ivanovich", "i", "m"),
            ("ivan", "ivanov", [], "petrovich", "i", "m"),
            True,
        ),
        # a patronymic typo is the same patronymic
        (
            ("ivan", "ivanov", [], "sergeevich", "i", "m"),
            ("ivan", "ivanov", [], "sergevich", "i", "m"),
            False,
        ),
        # husband and wife: "Кузнецов", "Кузнецова", no first names
        ((None, "kuznetsov", [], None, None, "m"), (None, "kuznetsova", [], None, None, "f"), True),
        # "Петров И." is not "Сергей Петров"
        ((None, "petrov", [], None, "i", "m"), ("sergei", "petrov", [], None, "s", "m"), True),
        ((None, "petrov", [], None, "s", "m"), ("sergei", "petrov", [], None, "s", "m"), False),
        # "Мельников Е." may be "Жека Мельников": the initial of a name it stands for
        (
            (None, "melnikov", [], None, "e", "m"),
            ("zheka", "melnikov", ["evgeni", "zheka"], None, ["e", "z"], "m"),
            False,
        ),
        # "Сергеев Д. А." is not "Сергеев Дмитрий Петрович", "Сергеев Д. П." may be
        (
            (None, "sergeev", [], None, "d", "m", "a"),
            ("dmitri", "sergeev", [], "petrovich", "d", "m"),
            True,
        ),
        (
            (None, "sergeev", [], None, "d", "m", "p"),
            ("dmitri", "sergeev", [], "petrovich", "d", "m"),
            False,
        ),
        # a diminutive or a typo no table lists, starting like the other name: "Тома"
        # for "Тамара", "Иан" for "Иван"
        (
            ("toma", "filippova", [], "vladislavovna", "t", "f"),
            ("tamara", "filippova", [], "vladislavovna", "t", "f"),
            False,
        ),
        (("ian", "chernov", [], None, "i", "m"), ("ivan", "chernov", [], None, "i", "m"), False),
        # ... but an unlisted name starting otherwise, or two listed names, still differ
        (("mrya", "petrova", [], None, "m", "f"), ("olga", "petrova", [], None, "o", "f"), True),
        (("ivan", "petrov", [], None, "i", "m"), ("igor", "petrov", [], None, "i", "m"), True),
    ]
    connection = db.connect()
    sides = ", ".join(
        f"{column}_{side} {kind}"
        for side in ("l", "r")
        for column, kind in (
            ("first_name", "text"),
            ("last_name", "text"),
            ("first_name_variants", "text[]"),
            ("first_name_listed", "boolean"),
            ("middle_name", "text"),
            ("first_initials", "text[]"),
            ("middle_initial", "text"),
            ("name_gender", "text"),
        )
    )
    connection.execute(f"create table p ({sides}, expected boolean)")
    connection.executemany(
        f"insert into p values ({', '.join(['?'] * 17)})",
        [(*_initials(left), *_initials(right), expected) for left, right, expected in rows],
    )
    sql = name_conflict_sql("jaro_winkler_similarity", "duckdb")
    got = connection.sql(f"select coalesce({sql}, false) = expected from p").fetchall()
    assert got == [(True,)] * len(rows)


def test_shared_phone_and_mailbox_do_not_merge_different_names():
    records, _ = population()
    colleagues = records_frame(
        source_record(
            "crm", "x1", first_name="Мария", last_name="Кузнецова",
            phones=["+74951112233", "+74951112244"], emails=["romashka.office1@mail.ru"],
            company="Ромашка", city="Москва",
        ),
        source_record(
            "crm", "x2", first_name="Олег", last_name="Смирнов",
            phones=["+74951112233", "+74951112244"], emails=["romashka.office1@mail.ru"],
            company="Ромашка", city="Москва",
        ),
    )  # fmt: skip
    contacts = normalize_contacts(pl.concat([records, colleagues])).contacts
    match_input, shared = prepare_match_input(contacts, max_block_size=50)
    # Found in the data: the people holding these values have different names.
    different_people = shared.filter(pl.col("reason") == "held by people with different names")
    assert set(different_people["value"]) == {
        "+74951112233",
        "+74951112244",
        "romashka.office1@mail.ru",
    }
    result = score(match_input, auto_merge_threshold=0.9)
    pair = result.scored_pairs.filter(
        (pl.col("record_id_l") == "crm:x1") & (pl.col("record_id_r") == "crm:x2")
    ).row(0, named=True)
    assert pair["names_conflict"]
    clusters = {r["record_id"]: r for r in result.clusters.iter_rows(named=True)}
    assert clusters["crm:x1"]["strong_cluster_id"] != clusters["crm:x2"]["strong_cluster_id"]


@pytest.mark.parametrize(
    ("initials", "conflict"),
    [("А. А.", True), ("Н. П.", True), ("Д. П.", False), ("Д.", False)],
)
def test_initials_are_read_against_the_names_on_a_family_phone(initials, conflict):
    # A father's card "Сергеев А. А." and his son's, on one home phone.
    records, _ = population()
    family = records_frame(
        source_record("crm", "x1", full_name=f"Сергеев {initials}", phones=["+73476377640"]),
        source_record(
            "crm", "x2", full_name="Сергеев Дмитрий Петрович", phones=["+73476377640"]
        ),
    )  # fmt: skip
    contacts = normalize_contacts(pl.concat([records, family])).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=50)
    result = score(match_input, auto_merge_threshold=0.9)
    pair = result.scored_pairs.filter(
        (pl.col("record_id_l") == "crm:x1") & (pl.col("record_id_r") == "crm:x2")
    ).row(0, named=True)
    assert pair["names_conflict"] is conflict


def test_one_initial_says_nothing_of_the_patronymic():
    records, _ = population()
    pair_of = records_frame(
        source_record("crm", "x1", full_name="Борачин А.", phones=["+73476377640"]),
        source_record(
            "crm", "x2", full_name="Антон Михайлович Борачин", phones=["+73476377640"]
        ),
    )  # fmt: skip
    contacts = normalize_contacts(pl.concat([records, pair_of])).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=50)
    pair = (
        score(match_input, auto_merge_threshold=0.9)
        .scored_pairs.filter(
            (pl.col("record_id_l") == "crm:x1") & (pl.col("record_id_r") == "crm:x2")
        )
        .row(0, named=True)
    )
    assert pair["mw_middle_name"] == 0
    assert not pair["names_conflict"]


def test_a_shared_person_identifier_overrides_a_name_conflict():
    import duckdb as db

    from dedup_pipeline.match import name_conflict_sql

    connection = db.connect()
    connection.execute(
        "create table p as select 'hannah' as first_name_l, 'bloomfield' as last_name_l, "
        "'hannah' as first_name_r, 'dikson' as last_name_r, "
        "null::text as middle_name_l, null::text as middle_name_r, "
        "null::text as middle_initial_l, null::text as middle_initial_r, "
        "['h'] as first_initials_l, ['h'] as first_initials_r, "
        "'f' as name_gender_l, 'f' as name_gender_r, "
        "['hannah'] as first_name_variants_l, ['hannah'] as first_name_variants_r, "
        "true as first_name_listed_l, true as first_name_listed_r, "
        "* from (values ('1605711', '1605711'), ('1605711', '2785166')) t(tax_id_l, tax_id_r)"
    )
    plain = name_conflict_sql("jaro_winkler_similarity")
    overridden = name_conflict_sql("jaro_winkler_similarity", overridden_by=["tax_id"])
    got = connection.sql(f"select {plain}, {overridden} from p").fetchall()
    # Different surnames conflict, unless the two records carry the same tax id.
    assert got == [(True, False), (True, True)]


def test_a_typo_on_a_letter_romanised_as_several_is_no_name_conflict():
    import duckdb as db

    from dedup_pipeline.match import name_conflict_sql

    # "Мщксим" (a keyboard slip in "Максим") romanises to "mshchksim": four letters off.
    pairs = [
        ("mshchksim", "maksim", False),
        ("zhanna", "zhaanna", False),
        ("maksim", "mikhail", True),
    ]
    connection = db.connect()
    connection.execute("create table p (first_name_l text, first_name_r text, expected boolean)")
    connection.executemany("insert into p values (?, ?, ?)", pairs)
    conflict = name_conflict_sql("jaro_winkler_similarity")
    got = connection.sql(
        f"""
        select {conflict}, expected from (
            select *, 'smirnov' as last_name_l, 'smirnov' as last_name_r,
                   null::text as middle_name_l, null::text as middle_name_r,
                   null::text as middle_initial_l, null::text as middle_initial_r,
                   null::text[] as first_initials_l, null::text[] as first_initials_r,
                   null::text as name_gender_l, null::text as name_gender_r,
                   [first_name_l] as first_name_variants_l,
                   [first_name_r] as first_name_variants_r,
                   true as first_name_listed_l, true as first_name_listed_r
            from p

        )
        """
    ).fetchall()
    assert [conflicting for conflicting, _ in got] == [expected for _, expected in got]


@pytest.fixture(scope="module")
def two_surnames_one_phone():
    """Contacts and match input: the population, and one phone and e-mail under two
    surnames (crm:x1, crm:x2)."""
    records, _ = population()
    pair = records_frame(
        source_record(
            "crm", "x1", first_name="Мария", last_name="Кузнецова",
            phones=["+79161112233"], emails=["m.k@mail.ru"], city="Москва",
        ),
        source_record(
            "crm", "x2", first_name="Мария", last_name="Смирнова",
            phones=["+79161112233"], emails=["m.k@mail.ru"], city="Москва",
        ),
    )  # fmt: skip
    contacts = normalize_contacts(pl.concat([records, pair])).contacts
    match_input, _ = prepare_match_input(contacts, max_block_size=50)
    return contacts, match_input


def test_name_conflicts_can_be_left_to_the_model(two_surnames_one_phone):
    _, match_input = two_surnames_one_phone

    def same_cluster(**options) -> bool:
        result = score(match_input, auto_merge_threshold=0.5, **options)
        ids = dict(result.clusters.select("record_id", "strong_cluster_id").iter_rows())
        return ids["crm:x1"] == ids["crm:x2"]

    assert not same_cluster()
    assert same_cluster(config=MatchConfig(name_conflicts="ignore"))


def test_names_left_to_the_model_do_not_hold_a_pair_back_at_the_decision(two_surnames_one_phone):
    from dedup_pipeline.config import DecisionConfig
    from dedup_pipeline.review import decide_clusters

    # With name_conflicts "ignore" the model's score decides, at every stage.
    contacts, match_input = two_surnames_one_phone
    ignore = MatchConfig(name_conflicts="ignore")
    result = score(match_input, auto_merge_threshold=0.5, config=ignore)
    assert not result.scored_pairs["names_conflict"].any()
    decisions = decide_clusters(
        result.clusters,
        result.scored_pairs,
        config=DecisionConfig(auto_merge_threshold=0.5, review_threshold=0.4),
        contacts=contacts,
    )
    ids = dict(decisions.clusters.select("record_id", "cluster_id").iter_rows())
    assert ids["crm:x1"] == ids["crm:x2"]


def test_u_leaves_out_the_true_matches_among_random_pairs():
    from dedup_pipeline.match import u_among_non_matches

    model = {
        "probability_two_random_records_match": 0.001,
        "comparisons": [
            {
                "comparison_levels": [
                    {"is_null_level": True},
                    # 0.9 of matches share a phone; a random pair shares one 0.001 of the
                    # time, nearly all of it because it is a match.
                    {"m_probability": 0.9, "u_probability": 0.001},
                    {"m_probability": 0.1, "u_probability": 0.999},
                ]
            }
        ],
    }
    levels = u_among_non_matches(model)["comparisons"][0]["comparison_levels"]
    assert levels[1]["u_probability"] == pytest.approx((0.001 - 0.0009) / 0.999)
    assert levels[2]["u_probability"] == pytest.approx((0.999 - 0.0001) / 0.999)
    assert model["comparisons"][0]["comparison_levels"][1]["u_probability"] == 0.001


def test_the_prior_moves_to_the_rate_of_matches_the_model_expects():
    from dedup_pipeline.match import expected_match_rate

    # 100 records (4,950 pairs); 50 candidate pairs are certain matches whatever the prior,
    # 1,000 are weak. The prior that agrees with itself is about 50 / 4,950.
    weights = pl.Series([40.0] * 50 + [-20.0] * 1000)
    rate = expected_match_rate(weights, prior=1e-4, total_pairs=4950)
    assert rate == pytest.approx(50 / 4950, rel=0.01)
    assert expected_match_rate(pl.Series([], dtype=pl.Float64), 1e-4, 4950) == 1e-4


def test_a_company_counts_as_evidence_on_a_record_without_e_mails():
    from dedup_pipeline.match.prepare import company_evidence

    records = pl.DataFrame(
        {"company_norm": ["уралтех", None], "emails_normalized": [None, ["a@uraltekh.ru"]]},
        schema={"company_norm": pl.String, "emails_normalized": pl.List(pl.String)},
    )
    assert records.select(company_evidence()).to_series().to_list() == [["uralteh"], ["uralteh"]]
