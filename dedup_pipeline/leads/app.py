"""The lead check over HTTP, for CRM webhooks: JSON in, JSON out.

- ``POST /leads/check``: a `Lead` as JSON; answers a `LeadCheck` (200), or 422 with
  field-level detail when the body is not a usable lead.
- ``GET /health``: whether the checker is ready, and which run it answers from.

When the environment variable named by ``token_env`` (``DEDUP_LEAD_TOKEN`` by default) is
set, every request but ``GET /health`` needs the header ``Authorization: Bearer <token>``
(compared in constant time); 401 otherwise.

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

from fastapi import FastAPI, HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from dedup_pipeline.config import PipelineConfig
from dedup_pipeline.leads.answer import LeadCheck
from dedup_pipeline.leads.check import LeadChecker, LeadCheckUnavailable, LeadRejected, RunFiles
from dedup_pipeline.leads.lead import Lead

__all__ = ["TOKEN_ENV", "LeadService", "create_app"]

logger = logging.getLogger(__name__)

#: The environment variable holding the webhooks' shared secret, by default.
TOKEN_ENV = "DEDUP_LEAD_TOKEN"

_OPEN_PATHS = frozenset({"/health"})


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
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


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
        The environment variable with the shared secret; read once, here. Unset or empty:
        no authentication.
    reload_interval
        Seconds between looks for a newer run; None or 0: keep the run loaded at start.

    Returns
    -------
    fastapi.FastAPI
        An ASGI app, e.g. for ``uvicorn.run(app, host="127.0.0.1", port=8090)``.
    """
    service = LeadService(config, region=region, checker=checker)
    token = os.environ.get(token_env) or None

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
