"""Scale test: the whole graph on ~100k generated records (run with `make test-slow`)."""

from pathlib import Path

import pytest

from assets.run import run_full_sweep
from dedup_pipeline.samples import generate_sample

SAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample.yaml"


@pytest.mark.slow
def test_full_sweep_on_100k_records_accounts_for_every_record(tmp_path):
    files = generate_sample(tmp_path / "data", n_clients=50_000, seed=5)
    config = tmp_path / "config.yaml"
    config.write_text(
        SAMPLE_CONFIG.read_text(encoding="utf-8")
        .replace("../data/sample/", "data/")
        .replace("../output/sample", "out"),
        encoding="utf-8",
    )
    report = run_full_sweep(config)
    assert report.accounting.balanced
    assert report.accounting.records_in == files.n_records + files.n_bad_rows
    assert report.accounting.quarantined == files.n_bad_rows
    assert report.golden_profiles == report.clusters
