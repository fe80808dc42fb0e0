"""Per-value parsing spread over worker processes."""

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
