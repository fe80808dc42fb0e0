"""Spread a per-value Python function over the machine's cores."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

__all__ = ["map_values"]

T = TypeVar("T")
R = TypeVar("R")

# Below this many values a worker pool costs more than it saves.
_PARALLEL_MIN_VALUES = 20_000


def _reset_signals() -> None:
    # Forked workers inherit the parent's handlers; Dagster's SIGTERM handler raises, and
    # running it in a worker while the pool shuts down prints a spurious traceback.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _apply_chunk(args: tuple[Callable[[T], R], Sequence[T]]) -> list[R]:
    func, chunk = args
    return [func(value) for value in chunk]


#: Modules the fork server imports once, so that each worker starts with them loaded.
_PRELOAD = ["phonenumbers", "email_validator", "dedup_pipeline.normalize.phones"]


def _context() -> multiprocessing.context.BaseContext:
    # Workers fork from a server process that never ran DuckDB or polars threads: a fork
    # of a process with such threads running can inherit a held lock and crash (a 1M-record
    # run after others in the same process lost its workers to segfaults).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def map_values(func: Callable[[T], R], values: Sequence[T]) -> list[R]:
    """Return ``[func(v) for v in values]``, using one process per core on large inputs.

    phonenumbers and email-validator are pure Python, so threads would not help. ``func``
    must be importable (a module-level function). A worker that dies makes this raise
    `concurrent.futures.process.BrokenProcessPool` instead of waiting for it forever.
    """
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or len(values) < _PARALLEL_MIN_VALUES or os.name != "posix":
        return [func(value) for value in values]
    size = -(-len(values) // (workers * 4))
    chunks = [(func, values[start : start + size]) for start in range(0, len(values), size)]
    with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_reset_signals) as pool:
        parts = list(pool.map(_apply_chunk, chunks))
    return [result for part in parts for result in part]
