"""Benchmark the incoming-lead check: warm-up time, memory and per-lead latency.

    python benchmarks/bench_lead_check.py                       # the sample run (make run)
    python benchmarks/bench_lead_check.py --config benchmarks/out/n1000000/config.yaml \\
        --output benchmarks/out/n1000000/day1/output --leads 400

Loads a run's output once (`LeadChecker.load`, warm-up check included), then checks
``--leads`` leads one at a time and prints the latency percentiles. Half the leads repeat
a client of the base (one of its phones written the national way, "8 (912) 345-67-89", or
internationally for foreign numbers; the name in the order "Last First" half the time);
the other half are new people (a random mobile number, a made-up e-mail, a first and a
last name drawn apart from the base's clients, so they still meet name-based blocks).
``--output`` reads a run kept elsewhere (bench_pipeline.py keeps its full sweep's output in
``<workdir>/day1/output``), with the warehouse tables in ``<output>/warehouse_tables``.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import phonenumbers
import polars as pl
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup_pipeline.config import PipelineConfig, load_config  # noqa: E402
from dedup_pipeline.leads import Lead, LeadChecker, RunFiles  # noqa: E402

MIB = 1024 * 1024


def _with_output(config: PipelineConfig, output: Path) -> PipelineConfig:
    """``config`` reading the run kept in ``output`` (warehouse tables inside it)."""
    output = output.resolve()
    warehouse = config.warehouse.model_copy(update={"path": output / "warehouse.duckdb"})
    return config.model_copy(
        update={
            "output": config.output.model_copy(update={"directory": output}),
            "warehouse": warehouse,
        }
    )


def _written_differently(e164: str) -> str:
    """A phone as a person types it: national format at home, international abroad."""
    number = phonenumbers.parse(e164)
    if phonenumbers.region_code_for_number(number) == "RU":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _leads(config: PipelineConfig, count: int, seed: int) -> list[tuple[Lead, str | None]]:
    """``count`` leads with the client each repeats (None for new people)."""
    rng = random.Random(seed)
    profiles = (
        pl.read_parquet(
            RunFiles.of(config).golden_profiles,
            columns=["cluster_id", "first_name", "last_name", "phones", "emails", "city"],
        )
        .filter(
            (pl.col("phones").list.len() > 0)
            & pl.col("first_name").is_not_null()
            & pl.col("last_name").is_not_null()
        )
        .sample(n=count, seed=seed, with_replacement=True)
    )
    leads: list[tuple[Lead, str | None]] = []
    rows = list(profiles.iter_rows(named=True))
    for number, row in enumerate(rows):
        if number % 2 == 0:
            name = f"{row['first_name']} {row['last_name']}"
            if rng.random() < 0.5:
                name = f"{row['last_name']} {row['first_name']}"
            lead = Lead(
                phones=[_written_differently(rng.choice(row["phones"]))],
                full_name=name,
                city=row["city"],
            )
            leads.append((lead, row["cluster_id"]))
        else:
            other = rows[rng.randrange(len(rows))]
            digits = "".join(rng.choice("0123456789") for _ in range(7))
            lead = Lead(
                phones=[f"8 (9{rng.randrange(10, 100)}) {digits[:3]}-{digits[3:5]}-{digits[5:]}"],
                emails=[f"new.lead.{rng.randrange(10**9)}@example.org"],
                first_name=row["first_name"],
                last_name=other["last_name"],
            )
            leads.append((lead, None))
    return leads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sample.yaml")
    parser.add_argument("--output", type=Path, default=None, help="A run's output directory.")
    parser.add_argument("--leads", type=int, default=200, help="Leads to check (half repeats).")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for name in ("splink", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)

    config = load_config(args.config)
    if args.output is not None:
        config = _with_output(config, args.output)
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    checker = LeadChecker.load(config)
    warm_up = time.perf_counter() - started
    loaded = process.memory_info().rss

    leads = _leads(config, args.leads, args.seed)
    latencies: list[float] = []
    found = wrong = new_matched = 0
    for lead, client in leads:
        started = time.perf_counter()
        answer = checker.check(lead)
        latencies.append((time.perf_counter() - started) * 1000)
        ids = [match.client_id for match in answer.matches]
        if client is None:
            new_matched += bool(ids)
        elif ids and ids[0] == client:
            found += 1
        else:
            wrong += 1
    checker.close()

    latencies.sort()
    repeats = sum(1 for _, client in leads if client is not None)
    print(f"run: {config.output.directory} (run {checker.run_id})")
    print(f"base: {checker.records:,} records, {checker.clients:,} clients")
    print(f"warm-up (load + first check): {warm_up:.2f} s")
    print(f"resident memory: {before / MIB:,.0f} MiB before, {loaded / MIB:,.0f} MiB loaded")
    print(
        f"per-lead latency over {len(leads)} leads: p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.1f} ms, max {latencies[-1]:.1f} ms"
    )
    print(
        f"repeats: {found}/{repeats} found as their client first"
        f"{f' ({wrong} not)' if wrong else ''}; "
        f"new people: {new_matched}/{len(leads) - repeats} matched someone"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
