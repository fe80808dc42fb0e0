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

import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FAULT_SPEC_HELP", "Fault", "FaultKind", "Faults", "parse_fault"]

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


#: How a fault is written on the command line (`parse_fault`).
FAULT_SPEC_HELP = (
    "[CRM/]KIND[=STATUS][@PATH][*COUNT][+SKIP], e.g. 'status=429@/merge*3' or "
    "'hubspot/lost_response@/merge+2'; KIND is status, timeout or lost_response"
)

_SPEC = re.compile(
    r"^(?:(?P<crm>[a-z0-9]+)/)?(?P<kind>status|timeout|lost_response)"
    r"(?:=(?P<status>[1-5]\d\d))?(?:@(?P<path>[^*+]+))?(?:\*(?P<count>\d+))?(?:\+(?P<skip>\d+))?$"
)


def parse_fault(spec: str) -> tuple[str | None, dict[str, Any]]:
    """Read a fault written as `FAULT_SPEC_HELP` says.

    Returns
    -------
    tuple
        The CRM it is for (None: every one) and the keyword arguments of `Faults.inject`.

    Raises
    ------
    ValueError
        Naming the spec and the expected form.
    """
    match = _SPEC.match(spec.strip())
    if match is None:
        raise ValueError(f"cannot read the fault {spec!r}: write {FAULT_SPEC_HELP}")
    if match["status"] and match["kind"] != "status":
        raise ValueError(f"the fault {spec!r}: only a 'status' fault takes '=STATUS'")
    options: dict[str, Any] = {"kind": match["kind"], "path": match["path"]}
    if match["status"]:
        options["status"] = int(match["status"])
    if match["count"]:
        options["count"] = int(match["count"])
    if match["skip"]:
        options["skip"] = int(match["skip"])
    return match["crm"], options


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
