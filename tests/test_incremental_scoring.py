"""New records scored against existing ones with a trained model (Splink's predict_between
and predict_within) get the same pairs and scores as a full prediction."""

import polars as pl
import pytest
from splink import DuckDBAPI

from dedup_pipeline.config import load_config
from dedup_pipeline.duckdb_connection import connect
from dedup_pipeline.match import prepare_match_input
from dedup_pipeline.match.frequencies import term_frequency_columns
from dedup_pipeline.match.incremental import match_incrementally, score_new_records
from dedup_pipeline.match.model import score_and_cluster, sharing_a_blocking_key
from dedup_pipeline.review import decide_clusters
from dedup_pipeline.review.touched import decide_records, records_to_decide, updated_review_queue
from tests.conftest import normalized_sample_contacts, sample_config_in
from tests.test_review_decisions import decisions


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    config = load_config(sample_config_in(tmp_path_factory.mktemp("incremental")))
    contacts = normalized_sample_contacts(config)
    connection = connect(config.warehouse)
    try:
        match_input, _ = prepare_match_input(
            contacts, max_block_size=config.match.max_block_size, connection=connection
        )
        result = score_and_cluster(
            match_input,
            db_api=DuckDBAPI(connection),
            config=config.match,
            auto_merge_threshold=config.decision.auto_merge_threshold,
            review_threshold=config.decision.review_threshold,
        )
    finally:
        connection.close()
    return config, match_input, result


def _incremental(config, match_input, model, new_ids):
    connection = connect(config.warehouse)
    try:
        return score_new_records(
            match_input, new_ids, db_api=DuckDBAPI(connection), config=config.match, model=model
        )
    finally:
        connection.close()


def test_new_records_get_the_pairs_and_scores_of_a_full_prediction(full_run):
    config, match_input, result = full_run
    assert term_frequency_columns(result.model)  # the check below covers tf adjustments
    new_ids = match_input.get_column("record_id").sample(fraction=0.1, seed=3)
    pairs = _incremental(config, match_input, result.model, new_ids)
    touching = result.scored_pairs.filter(
        pl.col("record_id_l").is_in(new_ids.implode())
        | pl.col("record_id_r").is_in(new_ids.implode())
    )
    key = ["record_id_l", "record_id_r"]
    assert pairs.height == touching.height > 100
    joined = pairs.join(touching, on=key, suffix="_full")
    assert joined.height == pairs.height
    assert (joined["match_weight"] - joined["match_weight_full"]).abs().max() < 1e-9
    assert joined["names_conflict"].equals(joined["names_conflict_full"])
    assert (joined["match_key"] == joined["match_key_full"]).all()


def test_nothing_new_scores_nothing(full_run):
    config, match_input, result = full_run
    pairs = _incremental(config, match_input, result.model, pl.Series([], dtype=pl.String))
    assert pairs.is_empty()


def _partition(clusters, column):
    return {
        frozenset(ids)
        for ids in clusters.group_by(column).agg(pl.col("record_id")).get_column("record_id")
    }


def _match_incrementally(config, model, match_input, placed, previous_pairs, **options):
    connection = connect(config.warehouse)
    try:
        return match_incrementally(
            match_input,
            placed,
            previous_pairs,
            db_api=DuckDBAPI(connection),
            config=config.match,
            model=model,
            auto_merge_threshold=config.decision.auto_merge_threshold,
            review_threshold=config.decision.review_threshold,
            **options,
        )
    finally:
        connection.close()


@pytest.fixture(scope="module")
def nightly(full_run):
    """Yesterday's run, and tonight's: 10% new records, three deleted, one changed."""
    config, match_input, result = full_run
    new_ids = match_input.get_column("record_id").sample(fraction=0.1, seed=5)
    gone = match_input.get_column("record_id").filter(
        ~match_input.get_column("record_id").is_in(new_ids.implode())
    )[:3]
    # The previous run scored the others the same way (same model), but also saw three
    # records since deleted at the source, and a record since changed (its stale pair).
    previous = result.scored_pairs.filter(
        ~pl.col("record_id_l").is_in(new_ids.implode())
        & ~pl.col("record_id_r").is_in(new_ids.implode())
    )
    stale = previous.head(1).with_columns(record_id_r=pl.lit(new_ids[0]))
    yesterday = _match_incrementally(
        config,
        result.model,
        match_input.filter(
            ~pl.col("record_id").is_in(new_ids.implode()) | (pl.col("record_id") == new_ids[0])
        ),
        pl.Series([], dtype=pl.String),
        pl.concat([previous, stale]),
    )
    current = match_input.filter(~pl.col("record_id").is_in(gone.implode()))
    return new_ids, gone, current, yesterday


def test_placing_new_records_among_kept_pairs_gives_the_full_clusters(full_run, nightly):
    config, _, result = full_run
    new_ids, gone, current, yesterday = nightly
    placed = _match_incrementally(config, result.model, current, new_ids, yesterday.scored_pairs)
    assert set(placed.clusters["record_id"]) == set(current["record_id"])
    expected = result.clusters.filter(~pl.col("record_id").is_in(gone.implode()))
    # Deleting three records may cut their clusters; compare where they were not.
    touched = set(
        result.clusters.filter(pl.col("record_id").is_in(gone.implode()))["strong_cluster_id"]
    )
    untouched = expected.filter(~pl.col("strong_cluster_id").is_in(list(touched)))
    mine = placed.clusters.join(untouched.select("record_id"), on="record_id", how="semi")
    assert _partition(mine, "strong_cluster_id") == _partition(untouched, "strong_cluster_id")
    assert placed.new_pairs > 100


@pytest.fixture(scope="module")
def tonight(full_run, nightly):
    """Tonight's match, reclustering only what the placed records touch."""
    config, _, result = full_run
    new_ids, _, current, yesterday = nightly
    return _match_incrementally(
        config,
        result.model,
        current,
        new_ids,
        yesterday.scored_pairs,
        previous_clusters=yesterday.clusters,
    )


def test_reclustering_only_the_touched_components_equals_reclustering_all(
    full_run, nightly, tonight
):
    config, _, result = full_run
    new_ids, _, current, yesterday = nightly
    everything = _match_incrementally(
        config, result.model, current, new_ids, yesterday.scored_pairs
    )
    local = tonight
    assert local.scored_pairs.equals(everything.scored_pairs)
    assert local.clusters.sort("record_id").equals(everything.clusters.sort("record_id"))
    # The deleted records' partners were among those clustered again.
    assert local.clusters.height == current.height


def test_placed_records_are_prepared_as_a_full_preparation_would(full_run):
    """A nightly run prepares only its new records, with the settled ones' match input
    counting in every base-wide judgement (shared phones, common names, block sizes)."""
    config, match_input, _ = full_run
    contacts = normalized_sample_contacts(config)
    _, shared_full = prepare_match_input(contacts, max_block_size=config.match.max_block_size)
    placed = match_input.get_column("record_id").sample(fraction=0.2, seed=5).implode()
    settled = match_input.filter(~pl.col("record_id").is_in(placed))

    fresh, judged = prepare_match_input(
        contacts.filter(pl.col("record_id").is_in(placed)),
        max_block_size=config.match.max_block_size,
        prepared=settled,
    )

    expected = match_input.filter(pl.col("record_id").is_in(placed)).sort("record_id")
    assert fresh.height == expected.height > 100
    assert fresh.sort("record_id").equals(expected)
    held = pl.concat(
        [fresh.select(value=pl.col(column)).explode("value") for column in ("phones", "emails")]
    ).drop_nulls()
    expected_shared = shared_full.filter(pl.col("kind") != "name").join(
        held, on="value", how="semi"
    )
    assert expected_shared.height > 0  # the sample has shared phones among these records
    assert (
        judged.filter(pl.col("kind") != "name")
        .sort("kind", "value")
        .equals(expected_shared.sort("kind", "value"))
    )


def test_deciding_only_touched_records_equals_deciding_everyone(full_run, nightly, tonight):
    """Tonight's new, changed and deleted records and a decision taken today: deciding
    the records they touch, and keeping last night's rows for the rest, gives the
    clusters and the queue that deciding everyone gives."""
    config = full_run[0]
    new_ids, _, current, yesterday = nightly
    contacts = normalized_sample_contacts(config)
    decide = {"config": config.decision}
    last_night = decide_clusters(
        yesterday.clusters, yesterday.scored_pairs, contacts=contacts, **decide
    )
    placed = new_ids.filter(new_ids.is_in(current["record_id"].implode()))
    # During the day a reviewer rejected a proposal that tonight's records do not touch.
    moved = pl.concat([placed, tonight.reclustered]).implode()
    proposal = (
        last_night.review_queue.filter(
            ~pl.col("record_ids").list.eval(pl.element().is_in(moved)).list.any()
        )
        .sort("record_count", descending=True)
        .row(0, named=True)
    )
    assert proposal["record_count"] >= 2
    reviewed = decisions(("reject", proposal["record_ids"], []))
    now = {"decisions": reviewed, "contacts": contacts, **decide}

    everyone = decide_clusters(tonight.clusters, tonight.scored_pairs, **now)
    touched = records_to_decide(
        tonight.clusters,
        tonight.scored_pairs,
        placed=placed,
        reclustered=tonight.reclustered,
        previous_clusters=last_night.clusters,
        decisions=reviewed,
    )
    again = decide_records(touched, tonight.clusters, tonight.scored_pairs, **now)
    kept = last_night.clusters.filter(
        pl.col("record_id").is_in(current["record_id"].implode())
        & ~pl.col("record_id").is_in(touched.implode())
    )

    assert 0 < touched.len() < current.height / 2
    assert (
        pl.concat([kept, again.clusters])
        .sort("record_id")
        .equals(everyone.clusters.sort("record_id"))
    )
    queue = updated_review_queue(last_night.review_queue, again.review_queue, touched)
    assert queue.equals(everyone.review_queue)
    assert set(proposal["record_ids"]) <= set(touched)


def test_the_records_a_new_one_can_pair_with_share_a_key_of_some_blocking_rule(full_run):
    config = full_run[0].match
    columns = {
        "record_id": pl.String,
        "phones_block": pl.List(pl.String),
        "emails_block": pl.List(pl.String),
        "name_key": pl.String,
        "first_name": pl.String,
        "last_name": pl.String,
        "last_name_block": pl.String,
        "first_name_city_block": pl.String,
        "first_name_initial_block": pl.String,
        "variant_name_block": pl.List(pl.String),
        "variant_patronymic_block": pl.List(pl.String),
    }

    def record(record_id, **values):
        return {name: values.get(name) for name in columns} | {"record_id": record_id}

    new = pl.DataFrame(
        [
            record(
                "new",
                phones_block=["+79120000001", "+79120000002"],
                emails_block=["a@x.ru"],
                name_key="ivan petrov",
                first_name="ivan",
                last_name="petrov",
                last_name_block="petrov",
                first_name_city_block="ivan @ perm",
                first_name_initial_block="ivan p",
                variant_name_block=["ivan petrov", "vanya petrov"],
                variant_patronymic_block=["ivan sergeevich"],
            )
        ],
        schema=columns,
    )
    settled = pl.DataFrame(
        [
            record("phone", phones_block=["+79120000002"]),
            record("email", emails_block=["b@x.ru", "a@x.ru"]),
            record("name", name_key="ivan petrov"),
            record("swapped", first_name="petrov", last_name="ivan"),
            record("surname", last_name_block="petrov"),
            record("city", first_name_city_block="ivan @ perm"),
            record("initial", first_name_initial_block="ivan p"),
            record("variant", variant_name_block=["vanya petrov"]),
            record("patronymic", variant_patronymic_block=["ivan sergeevich", "vanya sergeevich"]),
            record(
                "stranger", phones_block=["+79129999999"], first_name="ivan", last_name="sidorov"
            ),
        ],
        schema=columns,
    )
    candidates = sharing_a_blocking_key(settled, new, config)
    assert set(candidates["record_id"]) == set(settled["record_id"]) - {"stranger"}
