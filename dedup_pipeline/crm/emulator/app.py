"""What every emulated CRM does around its endpoints: auth, rate limit, faults, a log.

A CRM emulator subclasses `CrmEmulator` and lists its routes; `CrmEmulator.app` wraps
them in one ASGI middleware that, before any endpoint runs, checks the token, applies
the CRM's rate limit (a leaky bucket, as Bitrix24 documents; a window for the others
behaves the same at these rates) and serves armed faults.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from dedup_pipeline.crm.emulator.faults import Faults
from dedup_pipeline.crm.emulator.state import CrmState

__all__ = ["Bucket", "CrmEmulator", "LoggedRequest", "json_response", "read_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Bucket:
    """A leaky bucket: each request adds one, ``drain_per_second`` leak out, and a request
    that would lift the level above ``capacity`` is refused."""

    capacity: int
    drain_per_second: float


@dataclass(frozen=True)
class LoggedRequest:
    """A request the emulator received and the status it answered."""

    method: str
    path: str
    status: int


class CrmEmulator(ABC):
    """One emulated CRM account: its state, its protocol, and the trouble it can make.

    Parameters
    ----------
    state
        The contacts and deals it serves (empty when omitted).
    token
        The credential clients must present.
    bucket
        Its rate limit; `default_bucket` when omitted.
    """

    kind: ClassVar[str]
    default_bucket: ClassVar[Bucket]

    def __init__(
        self,
        state: CrmState | None = None,
        *,
        token: str = "emulator-token",
        bucket: Bucket | None = None,
    ) -> None:
        self.state = state if state is not None else CrmState()
        self.token = token
        self.bucket = bucket or self.default_bucket
        self.faults = Faults()
        self.log: list[LoggedRequest] = []
        self._level = 0.0
        self._drained_at = time.monotonic()

    def replace_state(self, state: CrmState) -> None:
        """Serve ``state`` from now on, as a fresh account: faults, log and whatever the
        protocol keeps beside the state (merge redirects, trash) are cleared."""
        self.state = state
        self.faults.clear()
        self.log.clear()
        self.reset_account()

    @abstractmethod
    def reset_account(self) -> None:
        """Clear what the protocol keeps beside the state."""

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The CRM's endpoints."""

    @abstractmethod
    def rate_limited(self) -> Response:
        """The CRM's answer to a request over its rate limit."""

    @abstractmethod
    def unauthorized(self) -> Response:
        """The CRM's answer to a request without valid credentials."""

    def authorized(self, scope: Scope) -> bool:
        """Whether the request carries the token (``Authorization: Bearer`` by default)."""
        headers = dict(scope.get("headers") or [])
        return headers.get(b"authorization", b"").decode() == f"Bearer {self.token}"

    def requests_to(self, fragment: str) -> list[LoggedRequest]:
        """The logged requests whose path contains ``fragment``."""
        return [entry for entry in self.log if fragment in entry.path]

    def app(self) -> Starlette:
        """The ASGI application serving this CRM."""
        return Starlette(routes=self.routes())

    def _over_limit(self) -> bool:
        now = time.monotonic()
        drained = (now - self._drained_at) * self.bucket.drain_per_second
        self._level = max(0.0, self._level - drained)
        self._drained_at = now
        if self._level + 1 > self.bucket.capacity:
            return True
        self._level += 1
        return False

    def asgi(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The application wrapped in the guard: auth, rate limit, faults and the log."""
        inner = self.app()

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            path = scope["path"]
            statuses: list[int] = []

            async def logged_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])
                await send(message)

            async def respond(response: Response) -> None:
                await response(scope, receive, logged_send)

            try:
                if not self.authorized(scope):
                    await respond(self.unauthorized())
                elif self._over_limit():
                    await respond(self.rate_limited())
                elif (fault := self.faults.take(path)) is None:
                    await inner(scope, receive, logged_send)
                elif fault.kind == "status":
                    await respond(_plain_error(fault.status))
                elif fault.kind == "timeout":
                    await asyncio.sleep(fault.delay)
                    await respond(_plain_error(504))
                else:  # lost_response: served, then the answer is lost on the way back

                    async def swallow(message: Message) -> None:
                        return None

                    await inner(scope, receive, swallow)
                    await respond(_plain_error(504))
            finally:
                status = statuses[0] if statuses else 0
                self.log.append(LoggedRequest(scope["method"], path, status))

        return guarded


def _plain_error(status: int) -> Response:
    # What a gateway in front of a CRM answers: not the CRM's own error envelope.
    return Response(f"<html><body>{status} error</body></html>", status, media_type="text/html")


async def read_json(request: Request) -> Any:
    """The request body as JSON (None when empty)."""
    body = await request.body()
    return json.loads(body) if body else None


def json_response(payload: Any, status: int = 200, media_type: str | None = None) -> Response:
    """JSON with non-ASCII text kept readable, as the CRMs send it."""
    return JSONResponse(payload, status_code=status, media_type=media_type)
