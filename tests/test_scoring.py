"""Re-scoring compared pairs under a changed model, as the prior refinement does."""

import copy

import duckdb
import polars as pl
import pytest
from splink import DuckDBAPI, Linker

from dedup_pipeline.match import prepare_match_input
from dedup_pipeline.match.scoring import largest_gain, rescore, to_polars
from dedup_pipeline.normalize import normalize_contacts
from tests.test_match import population, score


@pytest.fixture(scope="module")
def two_models():
    """A trained model and one with another prior and other identifier u, over one base."""
    records, _ = population()
    match_input, _ = prepare_match_input(normalize_contacts(records).contacts, max_block_size=50)
    trained = score(match_input).model
    changed = copy.deepcopy(trained)
    changed["probability_two_random_records_match"] *= 3
    for comparison in changed["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if "u_probability" in level]
        if comparison["output_column_name"] == "phones":
            # A personal phone in common.
            levels[0]["u_probability"] /= 8
        for level in levels:
            if comparison["output_column_name"] == "first_name_last_name":
                # A TF-adjusted comparison: its adjustment moves with the exact level's u.
                level["u_probability"] = min(level["u_probability"] * 2, 0.9)
    db_api = DuckDBAPI(duckdb.connect())
    table = db_api.register(match_input.to_arrow(), table_name="contacts_for_matching")
    return Linker(table, trained), Linker(table, changed), trained, changed


def _pairs(frame) -> pl.DataFrame:
    columns = [name.unquote().name for name in frame.columns]
    weights = [name for name in columns if name.startswith("mw_")]
    return to_polars(
        frame, ["record_id_l", "record_id_r", "match_weight", "match_probability", *weights]
    ).sort("record_id_l", "record_id_r")


def test_rescored_pairs_score_as_predicting_again_would(two_models):
    before, after, _, _ = two_models
    rescored = _pairs(rescore(before.inference.predict(warning_mode="never"), after))
    predicted = _pairs(after.inference.predict(warning_mode="never"))

    assert rescored.height == predicted.height > 100
    assert rescored.columns == predicted.columns
    for column in rescored.columns[2:]:
        assert rescored.get_column(column).to_list() == pytest.approx(
            predicted.get_column(column).to_list(), abs=1e-9
        ), column


def test_no_pair_gains_more_than_the_largest_gain(two_models):
    before, after, trained, changed = two_models
    old = _pairs(before.inference.predict(warning_mode="never"))
    new = _pairs(after.inference.predict(warning_mode="never"))
    gains = new.get_column("match_weight") - old.get_column("match_weight")
    bound = largest_gain(trained, changed)

    # A personal phone's u fell 8 times and the prior tripled: at least 3 + 1.58 bits.
    assert bound >= 4.5
    assert gains.max() <= bound + 1e-9
    assert gains.min() < gains.max() - 1
    assert largest_gain(changed, trained) < bound
