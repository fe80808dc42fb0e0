"""Reviewers' approvals teach the model: m probabilities also estimated from labelled pairs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import DagsterInstance

from assets.definitions import FULL_SWEEP_JOB, build_definitions
from assets.sensors import APPLY_REVIEW_DECISIONS_JOB
from dedup_pipeline.config import PipelineConfig, load_config
from dedup_pipeline.evaluate import truth_from_attributes
from dedup_pipeline.match import MatchResult, match_contacts
from dedup_pipeline.normalize import normalize_contacts
from dedup_pipeline.review import DecisionStore, ReviewDecision
from dedup_pipeline.review.constraints import LABELLED_PAIR_SCHEMA
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA
from dedup_pipeline.sources import read_source
from tests.conftest import sample_config_in
from tests.test_end_to_end import CONFIG, write_exports

USED = 120
#: Clients of the sample kept (of 1,500): a third of it trains in a few seconds.
CLIENTS = 500


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[PipelineConfig, pl.DataFrame, pl.DataFrame]:
    """The sample's config, normalized contacts of `CLIENTS` clients and their true pairs."""
    config = load_config(sample_config_in(tmp_path_factory.mktemp("learn")))
    records = pl.concat(
        [read_source(s).records.select(list(SOURCE_RECORD_SCHEMA)) for s in config.sources]
    )
    regions = {s.name: s.default_region for s in config.sources}
    contacts = normalize_contacts(records, default_regions=regions).contacts
    truth = truth_from_attributes(contacts, "truth_client_id")
    clients = truth.get_column("entity_id").drop_nulls().unique().sort().head(CLIENTS)
    truth = truth.filter(pl.col("entity_id").is_in(clients.implode()))
    contacts = contacts.join(truth.select("record_id"), on="record_id", how="semi")
    true_pairs = (
        truth.join(truth, on="entity_id", suffix="_r")
        .filter(pl.col("record_id") < pl.col("record_id_r"))
        .select(pl.col("record_id").alias("record_id_l"), "record_id_r")
        .sort("record_id_l", "record_id_r")
    )
    return config, contacts, true_pairs


def _labels(matches: pl.DataFrame, *, score: float = 1.0) -> pl.DataFrame:
    return matches.with_columns(clerical_match_score=pl.lit(score)).cast(LABELLED_PAIR_SCHEMA)


def _gone(count: int) -> pl.DataFrame:
    """Approved pairs of records that are no longer in the exports."""
    return _labels(
        pl.DataFrame(
            {
                "record_id_l": [f"bitrix24:gone-{i}" for i in range(count)],
                "record_id_r": [f"hubspot:gone-{i}" for i in range(count)],
            }
        )
    )


def _match(sample, labels: pl.DataFrame | None, **options: Any) -> MatchResult:
    config, contacts, _ = sample
    result, _ = match_contacts(
        contacts,
        match=config.match.model_copy(update=options),
        decision=config.decision,
        warehouse=config.warehouse,
        labelled_pairs=labels,
    )
    return result


def _m_probabilities(model: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {
        (comparison["output_column_name"], level["label_for_charts"]): level["m_probability"]
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if "m_probability" in level
    }


@pytest.fixture(scope="module")
def unlabelled(sample) -> MatchResult:
    """Trained with the option off: the labels passed in are ignored."""
    _, _, true_pairs = sample
    return _match(sample, _labels(true_pairs.head(USED)), learn_from_decisions=False)


@pytest.fixture(scope="module")
def labelled(sample) -> MatchResult:
    """Trained with approvals (some written both ways round), rejections, deleted records."""
    _, _, true_pairs = sample
    approved = true_pairs.head(USED)
    swapped = approved.head(USED // 2).select(
        pl.col("record_id_r").alias("record_id_l"), pl.col("record_id_l").alias("record_id_r")
    )
    rejected = true_pairs.slice(USED, 40)  # a rejection is no evidence of what a match looks like
    labels = pl.concat(
        [_labels(approved), _labels(swapped), _labels(rejected, score=0.0), _gone(30)]
    )
    return _match(sample, labels, learn_from_decisions=True)


def test_approved_pairs_move_the_m_probabilities(unlabelled, labelled):
    assert unlabelled.labelled_pairs_used == 0
    assert labelled.labelled_pairs_used == USED
    before, after = _m_probabilities(unlabelled.model), _m_probabilities(labelled.model)
    # A level EM never saw may get its first estimate from the labels.
    assert before.keys() <= after.keys()
    moved = [level for level in before if after[level] != pytest.approx(before[level], rel=1e-6)]
    assert len(moved) >= 3, moved
    assert all(0 < m <= 1 for m in after.values())


def test_rejections_and_records_not_in_the_run_are_not_learnt_from(labelled):
    # 120 approved pairs among the run's records, 60 of them also written the other way
    # round; the 40 rejections and 30 approvals of deleted records are left out.
    assert labelled.labelled_pairs_used == USED


def test_too_few_approved_pairs_leave_the_model_as_em_trained_it(sample, unlabelled, caplog):
    _, _, true_pairs = sample
    # 49 approvals among the run's records: with the 60 of deleted records they would make
    # the minimum of 50, but those do not count.
    labels = pl.concat([_labels(true_pairs.head(49)), _gone(60)])
    with caplog.at_level(logging.WARNING, logger="dedup_pipeline.match.model"):
        result = _match(sample, labels, learn_from_decisions=True, min_learning_pairs=50)
    assert result.labelled_pairs_used == 0
    assert "49 reviewed matching pairs" in caplog.text
    assert "match.min_learning_pairs = 50" in caplog.text
    # Training is deterministic up to the order DuckDB sums in.
    before, after = _m_probabilities(unlabelled.model), _m_probabilities(result.model)
    assert after == pytest.approx(before, rel=1e-9)


def test_the_matching_step_reads_decisions_from_the_store(tmp_path: Path):
    write_exports(tmp_path)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        CONFIG + "match: {learn_from_decisions: true, min_learning_pairs: 1}\n", encoding="utf-8"
    )
    with DecisionStore(load_config(config_path).review.url) as store:
        store.add_user("alice", "correct horse")
        for action, record_ids in (
            ("approve", ["bitrix24:1", "bitrix24:2", "hubspot:901", "webform:L-1"]),  # 6 pairs
            ("approve", ["bitrix24:3", "hubspot:902"]),  # 1 pair
            ("reject", ["bitrix24:4", "bitrix24:100"]),
            ("approve", ["bitrix24:5", "bitrix24:deleted"]),
        ):
            store.record(ReviewDecision(action=action, record_ids=record_ids, reviewer="alice"))

    definitions = build_definitions(config_path)
    with DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_job_def(FULL_SWEEP_JOB).execute_in_process(instance=instance)
    assert result.success
    (scored_pairs,) = [
        event
        for event in result.asset_materializations_for_node("splink_matching")
        if event.asset_key.path == ["scored_pairs"]
    ]
    assert scored_pairs.metadata["labelled_pairs_used"].value == 7

    # Applying new decisions re-clusters; it must not re-train on them.
    apply = definitions.resolve_job_def(APPLY_REVIEW_DECISIONS_JOB)
    steps = {node.name for node in apply.nodes_in_topological_order}
    assert "cluster_decisions" in steps and "splink_matching" not in steps
