"""The lead check over HTTP, for CRM webhooks: JSON in, JSON out.

- ``POST /leads/check``: a `Lead` as JSON; answers a `LeadCheck` (200), or 422 with
  field-level detail when the body is not a usable lead.
- ``GET /health``: whether the checker is ready, and which run it answers from.

Every request but ``GET /health`` needs the header ``Authorization: Bearer <token>``, the
token being the value of the environment variable named by ``token_env``
(``DEDUP_LEAD_TOKEN`` by default), compared in constant time; 401 otherwise. The answers
hold clients' names, phones and companies: without a token the app refuses to be built,
unless ``allow_anonymous`` says so (``dedup serve-leads --no-auth``, for localhost only).

A body larger than ``max_body_bytes`` is refused with 413 before it is read whole, and a
422 names the fields that are wrong without echoing what was sent.

The checker is loaded and warmed up when the app starts (`LeadChecker.load`), so the first
webhook does not wait for it. With ``reload_interval``, the app looks for a newer run
every so many seconds (its ``run_report.json`` is written last) and, when one has finished,
loads it in the background and swaps it in; checks go on meanwhile.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from dedup_pipeline.config import PipelineConfig
from dedup_pipeline.leads.answer import LeadCheck
from dedup_pipeline.leads.check import LeadChecker, LeadCheckUnavailable, LeadRejected, RunFiles
from dedup_pipeline.leads.lead import Lead

__all__ = ["MAX_BODY_BYTES", "TOKEN_ENV", "LeadServerInsecureError", "LeadService", "create_app"]

logger = logging.getLogger(__name__)

#: The environment variable holding the webhooks' shared secret, by default.
TOKEN_ENV = "DEDUP_LEAD_TOKEN"

_OPEN_PATHS = frozenset({"/health"})

#: Largest request body accepted: a lead is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024


class LeadServerInsecureError(RuntimeError):
    """The lead check would answer anyone: no token is set and anonymity was not asked for."""

    @classmethod
    def for_variable(cls, token_env: str) -> LeadServerInsecureError:
        """The error for an unset or empty ``token_env``."""
        return cls(
            f"${token_env} is not set: the lead check would show client profiles to anyone. "
            f"Set ${token_env} to a secret the webhooks send as 'Authorization: Bearer "
            "<secret>', or serve on localhost with --no-auth"
        )


async def _send_json(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyLimitMiddleware:
    """Answer 413 to a body over the limit, by its Content-Length or once the streamed
    chunks pass it; the rest is never read. A body within it (a lead is small) is
    buffered and handed on whole."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = b'{"detail":"request body too large"}'
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_json(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _send_json(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _BearerTokenMiddleware:
    """Refuse requests without ``Authorization: Bearer <token>`` (before reading the body)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"authorization", b"")
        if secrets.compare_digest(sent, self._expected):
            await self.app(scope, receive, send)
            return
        body = b'{"detail":"missing or wrong bearer token"}'
        await _send_json(send, 401, body, (b"www-authenticate", b"Bearer"))


class LeadService:
    """The app's checker, and its replacement when a newer run finishes.

    Parameters
    ----------
    config
        The configuration whose runs are checked against.
    region
        Passed to `LeadChecker.load`.
    checker
        An already loaded checker to serve (it is not closed by the service).
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        region: str | None = None,
        checker: LeadChecker | None = None,
    ) -> None:
        self.config = config
        self.region = region
        self.checker = checker
        self._owned = checker is None
        self._signature = self._run_signature() if checker is not None else None
        self._reloading = threading.Lock()

    def _run_signature(self) -> tuple[int, int] | None:
        try:
            stat = RunFiles.of(self.config).run_report.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def start(self) -> None:
        """Load and warm up the checker, unless one was given."""
        if self.checker is None:
            self._signature = self._run_signature()
            self.checker = LeadChecker.load(self.config, region=self.region)

    def refresh(self) -> bool:
        """Load the newest run if one has finished since the checker's; True if swapped.

        Checks keep going to the old checker while the new one loads; the old one is
        closed once its check in progress (if any) is done.
        """
        with self._reloading:
            signature = self._run_signature()
            if signature is None or signature == self._signature:
                return False
            fresh = LeadChecker.load(self.config, region=self.region)
            old, self.checker, self._signature = self.checker, fresh, signature
            logger.info("lead check: now answering from run %s", fresh.run_id)
            if old is not None and self._owned:
                old.close()
            self._owned = True
            return True

    def stop(self) -> None:
        """Close the checker if the service loaded it."""
        if self.checker is not None and self._owned:
            self.checker.close()


def _reloader(service: LeadService, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            service.refresh()
        except Exception:  # keep serving the run already loaded
            logger.exception("lead check: could not load the newest run")


def create_app(
    config: PipelineConfig,
    *,
    checker: LeadChecker | None = None,
    region: str | None = None,
    token_env: str = TOKEN_ENV,
    reload_interval: float | None = None,
    allow_anonymous: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The lead-check web app for a pipeline configuration.

    Parameters
    ----------
    config
        A loaded configuration (`dedup_pipeline.config.load_config`), paths resolved.
    checker
        A loaded checker to serve; by default one is loaded when the app starts.
    region
        Region of phones without a country code (see `LeadChecker.load`).
    token_env
        The environment variable with the shared secret; read once, here.
    reload_interval
        Seconds between looks for a newer run; None or 0: keep the run loaded at start.
    allow_anonymous
        Serve without a token when ``token_env`` is unset or empty (bind to localhost).
    max_body_bytes
        Larger request bodies are refused with 413.

    Returns
    -------
    fastapi.FastAPI
        An ASGI app, e.g. for ``uvicorn.run(app, host="127.0.0.1", port=8090)``.

    Raises
    ------
    LeadServerInsecureError
        When ``token_env`` is unset or empty and ``allow_anonymous`` is false.
    """
    token = os.environ.get(token_env) or None
    if token is None and not allow_anonymous:
        raise LeadServerInsecureError.for_variable(token_env)
    service = LeadService(config, region=region, checker=checker)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        stop = threading.Event()
        thread = None
        if reload_interval:
            thread = threading.Thread(
                target=_reloader, args=(service, reload_interval, stop), daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=5)
            service.stop()

    app = FastAPI(
        title="lead-dedup lead check",
        summary="Which existing clients does an incoming lead duplicate, and why?",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.leads = service
    if token is not None:
        app.add_middleware(_BearerTokenMiddleware, token=token)
    # Added last, so it runs first: nothing reads a body over the limit, token or not.
    app.add_middleware(_BodyLimitMiddleware, limit=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and why, never the input: a 200 MB body must not come back in the answer.
        detail = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
            for error in exc.errors()[:20]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.post("/leads/check", response_model=LeadCheck)
    def check_lead(lead: Lead) -> LeadCheck:
        """Check one lead against the clients of the last run."""
        # Twice at most: a checker replaced by a newer run's is closed under a request.
        for _ in range(2):
            current = service.checker
            if current is None:
                raise HTTPException(503, "the lead checker is still loading")
            try:
                return current.check(lead)
            except LeadRejected as exc:
                raise HTTPException(
                    422, [{"loc": ["body", "extra"], "msg": str(exc), "type": "value_error"}]
                ) from None
            except LeadCheckUnavailable:
                continue
        raise HTTPException(503, "the lead checker is being replaced; try again")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Ready or not, and the run answered from."""
        current = service.checker
        if current is None:
            raise HTTPException(503, "the lead checker is still loading")
        return {
            "status": "ok",
            "run_id": current.run_id,
            "records": current.records,
            "clients": current.clients,
            "load_seconds": round(current.load_seconds, 3),
        }

    return app
