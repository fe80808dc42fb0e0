"""Spread a per-value Python function over the machine's cores."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

__all__ = ["map_values"]

logger = logging.getLogger(__name__)

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


def map_values(func: Callable[[T], R], values: Sequence[T]) -> list[R]:
    """Return ``[func(v) for v in values]``, using one process per core on large inputs.

    phonenumbers and email-validator are pure Python, so threads would not help; forked
    workers inherit the already-loaded metadata and cost little to start. A fork of a
    process with DuckDB or polars threads running can inherit a held lock and crash (a
    1M-record run after others in one process lost its workers to segfaults, and the pool
    it used then waited forever): a worker that dies now ends the pool, and the values are
    computed in this process instead, with a warning.
    """
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or len(values) < _PARALLEL_MIN_VALUES or os.name != "posix":
        return [func(value) for value in values]
    size = -(-len(values) // (workers * 4))
    chunks = [(func, values[start : start + size]) for start in range(0, len(values), size)]
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_reset_signals) as pool:
            parts = list(pool.map(_apply_chunk, chunks))
    except BrokenProcessPool:
        logger.warning("a worker process died; computing %d values in this process", len(values))
        return [func(value) for value in values]
    return [result for part in parts for result in part]
