"""Per-value parsing spread over worker processes."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from dedup_pipeline.normalize._parallel import map_values

ROOT = Path(__file__).resolve().parent.parent


def test_results_keep_input_order():
    values = list(range(50_000))
    assert map_values(str, values) == [str(v) for v in values]


def test_workers_do_not_inherit_the_parents_signal_handlers():
    # Dagster installs a SIGTERM handler that raises; a forked worker that ran it while the
    # pool shut down printed a traceback at the end of a 1M-record run.
    code = (
        "import signal\n"
        "def handler(*_): raise RuntimeError('parent handler ran in a worker')\n"
        "signal.signal(signal.SIGTERM, handler)\n"
        "from dedup_pipeline.normalize._parallel import map_values\n"
        "from tests.test_parallel import sigterm_is_default\n"
        "assert all(map_values(sigterm_is_default, list(range(50_000))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def sigterm_is_default(_value: int) -> bool:
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


_CRASHED = "/tmp/dedup-test-parallel-crashed"


def crash_once_on_seven(value: int) -> int:
    """Kill the worker the first time it meets 7 (a marker file says it did)."""
    if value == 7 and not os.path.exists(_CRASHED):
        open(_CRASHED, "w").close()
        os.kill(os.getpid(), signal.SIGSEGV)
    return value


def test_a_worker_that_dies_does_not_hang_the_run_nor_lose_values():
    # A forked worker once segfaulted in a 1M-record run and the pool waited forever.
    if os.path.exists(_CRASHED):
        os.remove(_CRASHED)
    code = (
        "from dedup_pipeline.normalize._parallel import map_values\n"
        "from tests.test_parallel import crash_once_on_seven\n"
        "values = list(range(50_000))\n"
        "assert map_values(crash_once_on_seven, values) == values\n"
        "print('all values')\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    finally:
        crashed = os.path.exists(_CRASHED)
        if crashed:
            os.remove(_CRASHED)
    assert crashed, "the worker did not crash: the test tests nothing"
    assert "all values" in result.stdout, result.stderr
    assert "a worker process died" in result.stderr


def test_workers_start_cleanly_after_threads_ran_in_the_parent():
    import duckdb
    import polars as pl

    # DuckDB and polars leave worker threads behind; workers must not inherit their state.
    duckdb.connect().sql("select sum(range) from range(5000000)").fetchall()
    pl.DataFrame({"a": range(1_000_000)}).group_by(pl.col("a") % 7).len()
    values = list(range(60_000))
    assert map_values(str, values) == [str(v) for v in values]
