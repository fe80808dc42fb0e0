"""Benchmark the full sweep on generated data: per-stage wall time and peak memory.

    python benchmarks/bench_pipeline.py --records 100000
    python benchmarks/bench_pipeline.py --records 1000000 --memory-limit 12GB
    python benchmarks/bench_pipeline.py --records 1000000 --nightly 10000

Generates about ``--records`` records with the sample generator (two per client on
average), runs the same asset graph as ``dedup run`` and prints a table. Peak memory is
the process's resident set size (DuckDB runs in process), sampled every 50 ms.

With ``--nightly K``, K web-form leads that repeat existing clients (copies of random
leads under new ids) are then appended and the nightly run (``--mode incremental``) is
measured the same way. The state after the full sweep is kept in ``<workdir>/day1``;
``--nightly-only`` restores it and measures the nightly run alone, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.run import StepEvent, run_full_sweep  # noqa: E402
from dedup_pipeline.samples import generate_sample  # noqa: E402

CONFIG_TEMPLATE = (ROOT / "configs" / "sample.yaml").read_text(encoding="utf-8")


class RssSampler:
    """Track resident memory per pipeline step from a background thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._current: str | None = None
        self.peaks: dict[str, int] = {}
        self.overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            rss = self._process.memory_info().rss
            self.overall = max(self.overall, rss)
            if self._current is not None:
                self.peaks[self._current] = max(self.peaks.get(self._current, 0), rss)

    def on_step(self, event: StepEvent) -> None:
        self._current = event.step if event.status == "started" else None

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _append_repeat_leads(path: Path, count: int, seed: int) -> None:
    """Append ``count`` copies of random leads under new ids: clients writing in again."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    leads = []
    for line in lines:
        try:
            leads.append(json.loads(line))
        except json.JSONDecodeError:  # the generator's deliberately broken rows
            continue
    chosen = random.Random(seed).choices(leads, k=count)
    with path.open("a", encoding="utf-8") as file:
        for number, lead in enumerate(chosen, 1):
            file.write(json.dumps({**lead, "lead_id": f"N-{number:07d}"}, ensure_ascii=False))
            file.write("\n")


def _print_run(title: str, report, sampler: RssSampler, total: float) -> dict:
    mib = 1024 * 1024
    print(f"\n{title}")
    print(f"{'stage':<28}{'wall s':>10}{'peak RSS MiB':>16}")
    for stage, seconds in report.stage_seconds.items():
        print(f"{stage:<28}{seconds:>10.2f}{sampler.peaks.get(stage, 0) / mib:>16.0f}")
    print(f"{'total (incl. Dagster)':<28}{total:>10.2f}{sampler.overall / mib:>16.0f}")
    return {
        "records": report.accounting.records_in,
        "total_seconds": round(total, 2),
        "peak_rss_mib": round(sampler.overall / mib),
        "stage_seconds": report.stage_seconds,
        "stage_peak_rss_mib": {k: round(v / mib) for k, v in sampler.peaks.items()},
        "client_changes": report.client_changes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument(
        "--nightly",
        type=int,
        default=0,
        help="Then measure a nightly run with this many new leads.",
    )
    parser.add_argument(
        "--nightly-only",
        action="store_true",
        help="Restore the state a previous run kept after its full sweep and measure only "
        "the nightly run.",
    )
    args = parser.parse_args(argv)
    if args.nightly_only and not args.nightly:
        parser.error("--nightly-only needs --nightly K")

    workdir = args.workdir / f"n{args.records}"
    data = workdir / "data"
    config_path = workdir / "config.yaml"
    day1 = workdir / "day1"
    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.nightly_only:
        if not day1.is_dir():
            parser.error(f"no kept state in {day1}: run once with --nightly first")
        for part in ("data", "output"):
            shutil.rmtree(workdir / part, ignore_errors=True)
            shutil.copytree(day1 / part, workdir / part)
        records = json.loads((day1 / "benchmark.json").read_text())["records"]
        summary = {"records": records}
        _measure_nightly(args, config_path, data / "webform_leads.jsonl", records, summary)
        return 0
    started = time.perf_counter()
    files = generate_sample(data, n_clients=max(1, args.records // 2), seed=args.seed)
    generated = time.perf_counter() - started
    config = (
        CONFIG_TEMPLATE.replace("../data/sample/", "data/")
        .replace("../output/sample", "output")
        .replace("memory_limit: 4GB", f"memory_limit: {args.memory_limit}")
    )
    config_path.write_text(config, encoding="utf-8")

    with RssSampler() as sampler:
        started = time.perf_counter()
        report = run_full_sweep(config_path, on_step=sampler.on_step)
        total = time.perf_counter() - started

    mib = 1024 * 1024
    print(
        f"\nrecords in: {report.accounting.records_in:,} "
        f"({files.n_records:,} records of {files.n_clients:,} clients, "
        f"{files.n_bad_rows} bad rows; generated in {generated:.1f}s)"
    )
    print(f"{'stage':<28}{'wall s':>10}{'peak RSS MiB':>16}")
    for stage, seconds in report.stage_seconds.items():
        print(f"{stage:<28}{seconds:>10.2f}{sampler.peaks.get(stage, 0) / mib:>16.0f}")
    print(f"{'total (incl. Dagster)':<28}{total:>10.2f}{sampler.overall / mib:>16.0f}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS (getrusage): {maxrss:.0f} MiB")
    print(
        f"clusters {report.clusters:,}; auto-merged {report.clusters_auto_merged:,}; "
        f"review {report.clusters_to_review:,}; pairs {report.scored_pairs:,}"
    )
    summary = {
        "records": report.accounting.records_in,
        "total_seconds": round(total, 2),
        "peak_rss_mib": round(sampler.overall / mib),
        "stage_seconds": report.stage_seconds,
        "stage_peak_rss_mib": {k: round(v / mib) for k, v in sampler.peaks.items()},
    }
    if args.nightly:
        shutil.rmtree(day1, ignore_errors=True)
        day1.mkdir()
        for part in ("data", "output"):
            shutil.copytree(workdir / part, day1 / part)
        (day1 / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
        _measure_nightly(args, config_path, files.webform, report.accounting.records_in, summary)
    (workdir / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _measure_nightly(
    args: argparse.Namespace, config_path: Path, webform: Path, records: int, summary: dict
) -> None:
    _append_repeat_leads(webform, args.nightly, args.seed)
    with RssSampler() as sampler:
        started = time.perf_counter()
        nightly = run_full_sweep(config_path, on_step=sampler.on_step, mode="incremental")
        total = time.perf_counter() - started
    summary["nightly"] = _print_run(
        f"nightly run: {args.nightly:,} new leads against {records:,} records",
        nightly,
        sampler,
        total,
    )
    print(f"clients against the day before: {nightly.client_changes}")


if __name__ == "__main__":
    raise SystemExit(main())
