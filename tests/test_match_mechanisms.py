"""Each matching mechanism on a small hand-written case, scored in one realistic run.

The cases sit inside a background population of 160 people (80 of them duplicated across
a CRM and a web form), so the model trains on ordinary data; each test then asks one
question about one case.
"""

import polars as pl
import pytest

from dedup_pipeline.match import prepare_match_input
from dedup_pipeline.normalize import normalize_contacts
from tests.conftest import records_frame, source_record
from tests.test_match import population, score

CASES = [
    # A transliterated pair: Cyrillic in the CRM, Latin in HubSpot.
    source_record("crm", "t1", first_name="Юлия", last_name="Кузнецова",
                  phones=["+79035550101"], city="Москва"),
    source_record("hub", "t2", first_name="Iuliia", last_name="Kuznetsova",
                  phones=["8 903 555-01-01"], city="Moscow"),
    # A diminutive, surname first, in a web form.
    source_record("crm", "n1", first_name="Александр", last_name="Миронов",
                  phones=["+79035550202"], emails=["a.mironov@mail.ru"]),
    source_record("web", "n2", full_name="Миронов Саша", phones=["+7 903 555 02 02"]),
    # A lead form with a first name only, and the client's own mobile.
    source_record("crm", "l1", first_name="Ольга", last_name="Смирнова",
                  phones=["+79035550606"], emails=["olga.smirnova@yandex.ru"], city="Казань"),
    source_record("web", "l2", full_name="Оля", phones=["89035550606"]),
    # A diminutive no table lists ("Тома" for "Тамара") on the client's own mobile.
    source_record("crm", "u1", first_name="Тамара", last_name="Филиппова",
                  middle_name="Владиславовна", phones=["+79035550505"],
                  emails=["filippova82@ya.ru"], city="Екатеринбург"),
    source_record("web", "u2", full_name="ТОМА ВЛАДИСЛАВОВНА ФИЛИППОВА",
                  phones=["89035550505"], emails=["filippova82@ya.ru"]),
    # A typo in a rare name and in a common one (both pairs share a mailbox).
    source_record("crm", "r1", first_name="Всеволод", last_name="Ладломанов",
                  emails=["ladlomanov@example.ru"]),
    source_record("web", "r2", full_name="Всеволод Ладломманов",
                  emails=["ladlomanov@example.ru"]),
    source_record("crm", "r3", first_name="Иван", last_name="Петров",
                  emails=["ipetrov@example.ru"]),
    source_record("web", "r4", full_name="Иван Петтров", emails=["ipetrov@example.ru"]),
    # A family: one home phone and one surname, two people.
    source_record("crm", "f1", first_name="Иван", last_name="Соколов",
                  phones=["+74957770303", "+79035550303"], city="Москва"),
    source_record("crm", "f2", first_name="Мария", last_name="Соколова",
                  phones=["+74957770303", "+79035550304"], city="Москва"),
    # Colleagues: one switchboard, one info@ mailbox, one company.
    *[
        source_record("crm", f"c{i}", first_name=first, last_name=last,
                      phones=["+74951110000", f"+7903555040{i}"],
                      emails=["info@romashka.ru"], company="ООО «Ромашка»", city="Москва")
        for i, (first, last) in enumerate(
            [("Олег", "Белов"), ("Анна", "Жукова"), ("Пётр", "Комаров"), ("Нина", "Орлова")]
        )
    ],
    # Namesakes in one city whose provider numbered their mailboxes.
    source_record("crm", "s1", first_name="Елена", last_name="Степанова",
                  phones=["+79035550707"], emails=["stepanova73@mail.ru"], city="Самара"),
    source_record("web", "s2", full_name="Елена Степанова",
                  phones=["+79035550708"], emails=["stepanova79@mail.ru"], city="Самара"),
    # Namesakes in one city whose mailboxes differ by a dot, or by the provider.
    source_record("crm", "k1", first_name="Кирилл", last_name="Козлов",
                  phones=["+79035551111"], emails=["k.kozlov@yandex.ru"], city="Пермь"),
    source_record("web", "k2", full_name="Кирилл Козлов",
                  phones=["+79035551112"], emails=["kkozlov@yandex.ru"], city="Пермь"),
    source_record("crm", "k3", first_name="Анна", last_name="Смирнова",
                  phones=["+79035551113"], emails=["a.smirnova@bk.ru"], city="Пермь"),
    source_record("web", "k4", full_name="Анна Смирнова",
                  phones=["+79035551114"], emails=["a.smirnova@list.ru"], city="Пермь"),
    # ... or by a dot where a letter was mistyped too: "i.kozlov@" and "ikozlow@".
    source_record("crm", "k5", first_name="Игорь", last_name="Козлов",
                  phones=["+79035551115"], emails=["i.kozlov@gmail.com"], city="Пермь"),
    source_record("web", "k6", full_name="Игорь Козлов",
                  phones=["+79035551116"], emails=["ikozlow@gmail.com"], city="Пермь"),
    # The same client with a typo in the mailbox.
    source_record("crm", "e1", first_name="Lola", last_name="Taylor",
                  emails=["lolat86@bishop-giles.com"], city="London"),
    source_record("hub", "e2", first_name="Lola", last_name="Taylor",
                  emails=["lolat86@bishop-gilels.com"], city="London"),
    # ... with a digit typed into the company's domain, and no city to help.
    source_record("crm", "e3", first_name="Maryam", last_name="Jones",
                  emails=["maryam.j47@myers.com"]),
    source_record("hub", "e4", first_name="Maryam", last_name="Jones",
                  emails=["maryam.j47@myer7s.com"]),
    # A chain through a record without a surname: "Mary Smith" ~ "Mary" ~ "Mary Morris".
    source_record("hub", "m1", first_name="Mary", last_name="Smith",
                  phones=["+12125550505"], emails=["mary.smith@acme.com"]),
    source_record("hub", "m2", first_name="Mary",
                  phones=["+12125550505", "+12125550506"], emails=["office@acme.com"]),
    source_record("hub", "m3", first_name="Mary", last_name="Morris",
                  phones=["+12125550506"], emails=["mary.morris@acme.com"]),
    # A home phone left by two family members, each with a first name only.
    source_record("web", "h1", full_name="Анна", phones=["+74957770909"], city="Тула"),
    source_record("web", "h2", full_name="Борис", phones=["+74957770909"], city="Тула"),
    # A chain through a nameless card: "Павел" ~ (no name) ~ "Николай".
    source_record("web", "p1", full_name="Павел", phones=["+79035550808"],
                  emails=["pavel.v@mail.ru"]),
    source_record("crm", "p2", phones=["+79035550808", "+79035550809"],
                  emails=["pavel.v@mail.ru", "kolya.v@mail.ru"]),
    source_record("web", "p3", full_name="Николай", phones=["+79035550809"],
                  emails=["kolya.v@mail.ru"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def scored():
    background, _ = population()
    contacts = normalize_contacts(pl.concat([background, records_frame(*CASES)])).contacts
    match_input, shared = prepare_match_input(contacts, max_block_size=50)
    return score(match_input), shared


@pytest.fixture(scope="module")
def run(scored):
    result, shared = scored
    clusters = dict(result.clusters.select("record_id", "strong_cluster_id").iter_rows())
    candidates = dict(result.clusters.select("record_id", "candidate_cluster_id").iter_rows())
    return clusters, candidates, shared


def test_a_typo_in_a_rare_name_weighs_more_than_one_in_a_common_name(scored):
    result, _ = scored
    pairs = result.scored_pairs.with_columns(
        name_weight=pl.col("mw_first_name_last_name") + pl.col("mw_tf_adj_first_name_last_name")
    )

    def weight(left: str, right: str) -> float:
        pair = pairs.filter(pl.col("record_id_l") == left, pl.col("record_id_r") == right)
        return pair.item(0, "name_weight")

    # Two spellings of a name nobody else has, against two of "Иван Петров", which the
    # base holds several times: the commoner spelling of each pair is weighed.
    assert weight("crm:r1", "web:r2") > weight("crm:r3", "web:r4") + 2


def test_a_transliterated_pair_merges(run):
    clusters, _, _ = run
    assert clusters["crm:t1"] == clusters["hub:t2"]


def test_a_diminutive_written_surname_first_merges(run):
    clusters, _, _ = run
    assert clusters["crm:n1"] == clusters["web:n2"]


def test_a_diminutive_no_table_lists_does_not_split_a_client(run):
    clusters, _, shared = run
    assert clusters["crm:u1"] == clusters["web:u2"]
    # ... nor make the client's own mobile look shared by two people.
    assert "+79035550505" not in shared.get_column("value").to_list()


def test_a_first_name_only_lead_with_the_clients_phone_merges(run):

    clusters, _, _ = run
    assert clusters["crm:l1"] == clusters["web:l2"]


def test_a_family_sharing_a_phone_and_a_surname_is_not_merged(run):
    clusters, _, shared = run
    assert clusters["crm:f1"] != clusters["crm:f2"]
    assert "+74957770303" in shared.get_column("value").to_list()


def test_a_switchboard_and_an_info_mailbox_do_not_chain_a_company(run):
    clusters, candidates, shared = run
    colleagues = [f"crm:c{i}" for i in range(4)]
    assert len({clusters[c] for c in colleagues}) == 4
    # Names of different people: not even proposed to a reviewer.
    assert len({candidates[c] for c in colleagues}) == 4
    reasons = dict(shared.select("value", "reason").iter_rows())
    assert reasons["info@romashka.ru"] == "role mailbox"
    assert reasons["+74951110000"] == "held by people with different names"


def test_namesakes_with_numbered_mailboxes_are_not_merged(run):
    clusters, _, _ = run
    assert clusters["crm:s1"] != clusters["web:s2"]


def test_namesakes_whose_mailboxes_differ_in_format_or_provider_are_not_merged(run):
    # Two typos apart, but no letter typed wrong: what namesakes' addresses look like.
    clusters, _, _ = run
    assert clusters["crm:k1"] != clusters["web:k2"]
    assert clusters["crm:k3"] != clusters["web:k4"]
    assert clusters["crm:k5"] != clusters["web:k6"]


def test_a_typo_in_a_mailbox_does_not_hide_a_duplicate(run):
    clusters, _, _ = run
    assert clusters["crm:e1"] == clusters["hub:e2"]
    # Nor a digit typed into a company's domain: one mailbox, not two workplaces.
    assert clusters["crm:e3"] == clusters["hub:e4"]


def test_a_chain_through_a_record_without_surname_is_cut(run):
    clusters, _, _ = run
    assert clusters["hub:m1"] != clusters["hub:m3"]


def test_a_phone_of_two_first_names_only_is_shared(run):
    clusters, _, shared = run
    assert clusters["web:h1"] != clusters["web:h2"]
    reasons = dict(shared.select("value", "reason").iter_rows())
    assert reasons["+74957770909"] == "held by people with different names"


def test_a_chain_of_first_names_only_through_a_nameless_card_is_cut(run):
    clusters, _, _ = run
    assert clusters["web:p1"] != clusters["web:p3"]
