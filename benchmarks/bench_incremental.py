"""Incremental matching against one full sweep: agreement, accuracy and time.

    python benchmarks/bench_incremental.py --clients 25000 --nights 5

Generates the sample generator's exports for ``--clients`` clients and orders the records
by creation time. Day 1 is a full sweep over the first ``1 - --new-share`` of them (the
model is trained there); the rest arrive in ``--nights`` nightly batches, each placed as
the nightly run places them (`match_contacts_incrementally`: only the batch is prepared,
against the last night's match input, and only the components it touches are clustered
again), with the day-1 model. The result is compared with one full sweep over
every record: pairwise precision, recall and F1 of the incremental clusters taking the full
sweep's as the reference, and each method against the generator's truth. Both go through
the decide stage (`decide_clusters`, shapes included), so these are final client clusters.

Prints one line per night (records placed, new pairs, seconds) and the comparison; writes
``incremental.json`` in ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup_pipeline.config import PipelineConfig, load_config  # noqa: E402
from dedup_pipeline.evaluate import pairwise_scores, truth_from_attributes  # noqa: E402
from dedup_pipeline.match import match_contacts, match_contacts_incrementally  # noqa: E402
from dedup_pipeline.normalize import normalize_contacts  # noqa: E402
from dedup_pipeline.review import decide_clusters  # noqa: E402
from dedup_pipeline.review.versions import record_versions  # noqa: E402
from dedup_pipeline.samples import generate_sample  # noqa: E402
from dedup_pipeline.schema import SOURCE_RECORD_SCHEMA  # noqa: E402
from dedup_pipeline.sources import read_source  # noqa: E402


def _contacts(config: PipelineConfig) -> pl.DataFrame:
    records = pl.concat(
        [read_source(s).records.select(list(SOURCE_RECORD_SCHEMA)) for s in config.sources]
    )
    regions = {s.name: s.default_region for s in config.sources}
    return normalize_contacts(records, default_regions=regions).contacts


def _final(config: PipelineConfig, clusters, pairs, contacts) -> pl.DataFrame:
    return decide_clusters(
        clusters, pairs, config=config.decision, contacts=contacts
    ).clusters.select("record_id", "cluster_id")


def _scores(predicted: pl.DataFrame, reference: pl.DataFrame) -> dict[str, float]:
    scores = pairwise_scores(predicted, reference)
    return {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1}


def run(clients: int, nights: int, new_share: float, seed: int, workdir: Path) -> dict[str, Any]:
    data = workdir / "data"
    generate_sample(data, n_clients=clients, seed=seed)
    text = (ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8")
    text = text.replace("../data/sample/", f"{data}/").replace(
        "../output/sample", str(workdir / "output")
    )
    config_path = workdir / "config.yaml"
    config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)

    contacts = _contacts(config).sort("created_at", "record_id", nulls_last=True)
    day_one = int(contacts.height * (1 - new_share))
    later = contacts.get_column("record_id")[day_one:]
    size = math.ceil(later.len() / nights)
    batches = [later[night * size : (night + 1) * size] for night in range(nights)]

    started = time.perf_counter()
    first, prepared = match_contacts(
        contacts.head(day_one),
        match=config.match,
        decision=config.decision,
        warehouse=config.warehouse,
    )
    day_one_seconds = time.perf_counter() - started
    print(f"day 1: full sweep of {day_one:,} records in {day_one_seconds:.1f} s", flush=True)

    pairs = first.scored_pairs
    placed_so_far = day_one
    nightly = []
    clusters = first.clusters
    versions = record_versions(contacts.head(day_one))
    for night, batch in enumerate(batches, 1):
        placed_so_far += batch.len()
        current = contacts.head(placed_so_far)
        # The nightly run's normalize stage hands these on; not part of matching's time.
        current_versions = record_versions(current)
        started = time.perf_counter()
        result, prepared, placed = match_contacts_incrementally(
            current,
            versions=current_versions,
            previous_versions=versions,
            previous_pairs=pairs,
            model=first.model,
            match=config.match,
            decision=config.decision,
            warehouse=config.warehouse,
            previous_prepared=prepared,
            previous_clusters=clusters,
        )
        seconds = time.perf_counter() - started
        assert placed.sort().equals(batch.sort().rename(placed.name))
        pairs, clusters, versions = result.scored_pairs, result.clusters, current_versions
        nightly.append(
            {
                "night": night,
                "placed": batch.len(),
                "records": current.height,
                "new_pairs": result.new_pairs,
                "reclustered": result.reclustered.len(),
                "seconds": round(seconds, 2),
            }
        )
        print(
            f"night {night}: placed {batch.len():,} among {current.height:,} records, "
            f"{result.new_pairs:,} new pairs, {result.reclustered.len():,} reclustered, "
            f"{seconds:.1f} s",
            flush=True,
        )
    incremental = _final(config, clusters, pairs, contacts)

    started = time.perf_counter()
    full, _ = match_contacts(
        contacts, match=config.match, decision=config.decision, warehouse=config.warehouse
    )
    full_seconds = time.perf_counter() - started
    one_sweep = _final(config, full.clusters, full.scored_pairs, contacts)
    print(f"one full sweep of {contacts.height:,} records in {full_seconds:.1f} s", flush=True)

    truth = truth_from_attributes(contacts, "truth_client_id")
    reference = one_sweep.select("record_id", entity_id="cluster_id")
    figures = {
        "clients": clients,
        "records": contacts.height,
        "day_one_records": day_one,
        "nights": nightly,
        "day_one_seconds": round(day_one_seconds, 2),
        "full_sweep_seconds": round(full_seconds, 2),
        "incremental_vs_full_sweep": _scores(incremental, reference),
        "incremental_vs_truth": _scores(incremental, truth),
        "full_sweep_vs_truth": _scores(one_sweep, truth),
    }
    for name in ("incremental_vs_full_sweep", "incremental_vs_truth", "full_sweep_vs_truth"):
        scores = figures[name]
        print(
            f"{name:<28} precision {scores['precision']:.4f} recall {scores['recall']:.4f} "
            f"F1 {scores['f1']:.4f}"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=25_000)
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument("--new-share", type=float, default=0.1, help="Share arriving later.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "incremental")
    args = parser.parse_args()
    # The generated config names its files by this path, relative to the config itself.
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    figures = run(args.clients, args.nights, args.new_share, args.seed, args.workdir)
    path = args.workdir / "incremental.json"
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
