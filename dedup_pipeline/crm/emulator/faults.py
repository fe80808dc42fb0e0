"""Trouble on demand: failures and slowness an emulated CRM serves when told to.

A test arms a fault for requests whose path contains a fragment; the emulator consults
`Faults` before it serves each request. Three kinds of trouble cover what a CRM client
must survive:

- ``status``: answer with an HTTP status (500, 502, 503, ...) and change nothing;
- ``timeout``: stall past the client's timeout and change nothing;
- ``lost_response``: apply the request, then answer 504, as when a proxy drops the answer
  of a request the CRM did serve (the case that makes a naive retry merge twice).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "FaultKind", "Faults"]

FaultKind = Literal["status", "timeout", "lost_response"]


@dataclass
class Fault:
    """One armed fault: it lets ``skip`` matching requests through, then hits ``count``."""

    kind: FaultKind
    path: str | None = None
    status: int = 500
    count: int = 1
    skip: int = 0
    delay: float = 5.0

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path


class Faults:
    """The faults armed on one emulated CRM; safe to arm from a test thread."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []
        self._lock = threading.Lock()

    def inject(
        self,
        kind: FaultKind,
        *,
        path: str | None = None,
        status: int = 500,
        count: int = 1,
        skip: int = 0,
        delay: float = 5.0,
    ) -> Fault:
        """Arm a fault for requests whose path contains ``path`` (any request when None).

        Parameters
        ----------
        kind
            ``status``, ``timeout`` or ``lost_response`` (see the module docstring).
        status
            The HTTP status of a ``status`` fault.
        count
            How many matching requests it hits.
        skip
            How many matching requests it lets through first.
        delay
            Seconds a ``timeout`` fault stalls.
        """
        fault = Fault(kind=kind, path=path, status=status, count=count, skip=skip, delay=delay)
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self, path: str) -> Fault | None:
        """The fault that hits this request, if any (consumes one hit)."""
        with self._lock:
            for fault in self._armed:
                if not fault.matches(path):
                    continue
                if fault.skip:
                    fault.skip -= 1
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._armed.remove(fault)
                return fault
        return None
