"""Routes of the reviewers' web app.

- ``GET /login``, ``POST /login``: sign in as a `DecisionStore` user; ``POST /logout``.
- ``GET /``: the undecided proposals; query parameters ``q`` (search), ``sort``
  (``priority``, ``size``, ``confidence``) and ``order`` (``asc``, ``desc``).
- ``GET /proposals/{review_cluster_id}``: one proposal's records side by side, their client
  clusters and the scored pairs that linked them.
- ``POST /proposals/{review_cluster_id}/decision``: approve, reject or split it, then go on
  to the next undecided proposal.

Every page but the login page redirects to it when nobody is signed in, and every POST needs
the session's CSRF token. Pages are rendered on the server; ``static/app.js`` only adds
keyboard shortcuts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode

import jinja2
import polars as pl
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.middleware.sessions import SessionMiddleware

from dedup_pipeline.config import PipelineConfig
from dedup_pipeline.review.store import DecisionStore, ReviewAction, ReviewDecision
from dedup_pipeline.review.versions import record_versions
from dedup_pipeline.review.web.data import (
    FLAG_LABELS,
    SORT_LABELS,
    ExportedRun,
    ExportsUnavailable,
    Proposal,
    QueueView,
    RunSnapshot,
    covering_decision,
    decided_proposals,
    load_proposal,
)
from dedup_pipeline.review.web.security import (
    CSRF_FIELD,
    ActiveSessions,
    CsrfFailure,
    LoginRequired,
    LoginThrottle,
    SecurityHeadersMiddleware,
    csrf_token,
    current_user,
    log_in,
    log_out,
    require_csrf,
    require_user,
    resolve_secret,
    safe_next,
)

__all__ = ["create_app"]

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"

#: Seconds a login lasts.
SESSION_MAX_AGE = 12 * 60 * 60

_ACTIONS = ("approve", "reject", "split")

User = Annotated[str, Depends(require_user)]


@dataclass(frozen=True)
class _Services:
    run: ExportedRun
    store: DecisionStore
    templates: Jinja2Templates


def _services(request: Request) -> _Services:
    services: _Services = request.app.state.review
    return services


def _quote_id(value: str) -> str:
    return quote(value, safe=":@")


def _weight_class(value: float | None) -> str:
    if value is None or value == 0:
        return "zero"
    return "pos" if value > 0 else "neg"


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 1) -> str:
    """A weight in bits with its sign ("+18.8", "−3.1"); 0 reads "0"."""
    if value is None:
        return ""
    if round(value, digits) == 0:
        return "0"
    return f"{value:+.{digits}f}".replace("-", "\N{MINUS SIGN}")


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["quote_id"] = _quote_id
    env.filters["weight_class"] = _weight_class
    env.filters["number"] = _number
    env.filters["signed"] = _signed
    env.globals["csrf_field"] = CSRF_FIELD
    return Jinja2Templates(env=env)


def _render(
    request: Request, template: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    base = {
        "user": current_user(request),
        "csrf_token": csrf_token(request),
        "flash": request.session.pop("flash", None),
    }
    return _services(request).templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


def _error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return _render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _proposal_url(review_cluster_id: str, view: QueueView) -> str:
    return f"/proposals/{_quote_id(review_cluster_id)}{view.query()}"


@dataclass(frozen=True)
class _QueueState:
    """The run's queue as a reviewer sees it now."""

    snapshot: RunSnapshot
    decisions: pl.DataFrame
    decided: set[str]
    shown: pl.DataFrame

    @property
    def shown_ids(self) -> list[str]:
        """Undecided proposals matching the view, in view order."""
        ids: list[str] = self.shown.get_column("review_cluster_id").to_list()
        return ids


def _open_queue(services: _Services, view: QueueView) -> _QueueState:
    snapshot = services.run.snapshot()
    decisions = services.store.decisions()
    decided = decided_proposals(snapshot.review_queue, decisions)
    shown = view.apply(snapshot.review_queue, hide=decided)
    return _QueueState(snapshot, decisions, decided, shown)


# -- login ------------------------------------------------------------------------------------

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
    if current_user(request) is not None:
        return _see_other(safe_next(next_path))
    return _render(
        request, "login.html", {"next": safe_next(next_path), "error": None, "username": ""}
    )


@router.post("/login", dependencies=[Depends(require_csrf)], response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    username = username.strip()
    throttle: LoginThrottle = request.app.state.login_throttle
    locked = throttle.locked_for(username) if username else 0.0
    if locked:
        # The password is not even checked: guessing on goes nowhere.
        minutes = max(1, round(locked / 60))
        error = f"Too many wrong passwords for this user. Try again in {minutes} min."
        status = 429
    elif username and password and _services(request).store.verify_user(username, password):
        throttle.succeeded(username)
        log_in(request, username)
        return _see_other(safe_next(next_path))
    else:
        if username:
            throttle.failed(username)
        error, status = "Wrong username or password.", 401
    return _render(
        request,
        "login.html",
        {"next": safe_next(next_path), "error": error, "username": username},
        status_code=status,
    )


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
    log_out(request)
    return _see_other("/login")


# -- the queue --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(require_user)])
def queue_page(request: Request) -> Response:
    view = QueueView.from_params(request.query_params)
    services = _services(request)
    state = _open_queue(services, view)
    total = state.snapshot.review_queue.height
    return _render(
        request,
        "queue.html",
        {
            "rows": state.shown.rows(named=True),
            "view": view,
            "view_query": view.query(),
            "sort_keys": SORT_LABELS,
            "flag_labels": FLAG_LABELS,
            "total": total,
            "undecided": total - len(state.decided),
            "directory": str(services.run.directory),
        },
    )


# -- one proposal -----------------------------------------------------------------------------


def _proposal_page(
    request: Request,
    proposal: Proposal,
    view: QueueView,
    *,
    error: str | None = None,
    chosen: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    state = _open_queue(_services(request), view)
    shown_ids = state.shown_ids
    previous_id = next_id = None
    if proposal.review_cluster_id in shown_ids:
        index = shown_ids.index(proposal.review_cluster_id)
        previous_id = shown_ids[index - 1] if index > 0 else None
        next_id = shown_ids[index + 1] if index + 1 < len(shown_ids) else None
    elif shown_ids:
        next_id = shown_ids[0]
    chosen = chosen or {}
    return _render(
        request,
        "proposal.html",
        {
            "proposal": proposal,
            "view": view,
            "view_query": view.query(),
            "previous_url": None if previous_id is None else _proposal_url(previous_id, view),
            "next_url": None if next_id is None else _proposal_url(next_id, view),
            "decided": covering_decision(proposal.record_ids, state.decisions),
            "error": error,
            "groups": chosen.get("groups") or {},
            "survivor": chosen.get("survivor") or "",
            "note": chosen.get("note") or "",
            "action_url": f"/proposals/{_quote_id(proposal.review_cluster_id)}/decision",
        },
        status_code=status_code,
    )


@router.get(
    "/proposals/{review_cluster_id:path}",
    response_class=HTMLResponse,
    dependencies=[Depends(require_user)],
)
def proposal_page(request: Request, review_cluster_id: str) -> Response:
    view = QueueView.from_params(request.query_params)
    proposal = load_proposal(_services(request).run.snapshot(), review_cluster_id)
    if proposal is None:
        return _error_page(
            request,
            404,
            "Proposal not found",
            f"There is no proposal {review_cluster_id!r} in the last run's review queue.",
        )
    return _proposal_page(request, proposal, view)


def _validation_message(error: ValidationError) -> str:
    return "; ".join(str(detail["msg"]).removeprefix("Value error, ") for detail in error.errors())


def _split_groups(record_ids: list[str], labels: list[str]) -> list[list[str]]:
    """Records grouped by the group number chosen for each, in group order."""
    groups: dict[str, list[str]] = {}
    for record_id, label in zip(record_ids, labels, strict=True):
        groups.setdefault(label.strip(), []).append(record_id)

    def order(label: str) -> tuple[int, str]:
        return (int(label), "") if label.isdigit() else (1 << 30, label)

    return [groups[label] for label in sorted(groups, key=order)]


@router.post(
    "/proposals/{review_cluster_id:path}/decision",
    dependencies=[Depends(require_csrf)],
    response_class=HTMLResponse,
)
def decide(
    request: Request,
    review_cluster_id: str,
    user: User,
    action: Annotated[str, Form()] = "",
    record_id: Annotated[list[str] | None, Form()] = None,
    group: Annotated[list[str] | None, Form()] = None,
    survivor: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    flag: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "",
) -> Response:
    services = _services(request)
    view = QueueView.from_params({"q": q, "flag": flag, "sort": sort, "order": order})
    snapshot = services.run.snapshot()
    proposal = load_proposal(snapshot, review_cluster_id)
    if proposal is None:
        return _error_page(
            request,
            404,
            "Proposal not found",
            f"Proposal {review_cluster_id!r} is no longer in the review queue "
            "(a new run may have changed it). Nothing was recorded.",
        )
    record_ids = record_id or []
    if sorted(record_ids) != sorted(proposal.record_ids):
        return _error_page(
            request,
            409,
            "The proposal changed",
            "The records of this proposal changed since the page was opened (a new run). "
            "Nothing was recorded; open the proposal again.",
        )
    labels = group or []
    chosen = {
        "groups": dict(zip(record_ids, labels, strict=False)),
        "survivor": survivor,
        "note": note,
    }
    problem: str | None = None
    decision: ReviewDecision | None = None
    if action not in _ACTIONS:
        problem = f"Unknown action {action!r}: choose approve, reject or split."
    elif action == "split" and len(labels) != len(record_ids):
        problem = "Choose a group for every record to split the proposal."
    else:
        try:
            decision = ReviewDecision(
                action=cast(ReviewAction, action),
                record_ids=record_ids,
                groups=_split_groups(record_ids, labels) if action == "split" else None,
                survivor_record_id=(survivor or None) if action == "approve" else None,
                reviewer=user,
                review_cluster_id=proposal.review_cluster_id,
                note=note.strip() or None,
                record_versions=dict(
                    record_versions(
                        snapshot.contacts.filter(pl.col("record_id").is_in(record_ids))
                    ).iter_rows()
                ),
            )
        except ValidationError as error:
            problem = _validation_message(error)
    if decision is None:
        return _proposal_page(
            request, proposal, view, error=problem, chosen=chosen, status_code=400
        )

    before = _open_queue(services, view).shown_ids
    try:
        services.store.record(decision)
    except ValueError as error:
        return _proposal_page(
            request, proposal, view, error=str(error), chosen=chosen, status_code=400
        )
    request.session["flash"] = f"Recorded: {action} of proposal {proposal.review_cluster_id}."
    remaining = set(_open_queue(services, view).shown_ids)
    if proposal.review_cluster_id in before:
        index = before.index(proposal.review_cluster_id)
        candidates = before[index + 1 :] + before[:index]
    else:
        candidates = before
    following = next((candidate for candidate in candidates if candidate in remaining), None)
    if following is None:
        return _see_other("/" + view.query())
    return _see_other(_proposal_url(following, view))


# -- the app ----------------------------------------------------------------------------------


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/login"
    if exc.next_path not in ("", "/"):
        target += "?" + urlencode({"next": exc.next_path})
    return _see_other(target)


async def _csrf_failure(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        403,
        "Form expired",
        "The form's security token is missing or out of date. Go back, reload the page "
        "and try again.",
    )


async def _exports_unavailable(request: Request, exc: Exception) -> Response:
    return _error_page(request, 503, "No run to review", str(exc))


def create_app(
    config: PipelineConfig,
    *,
    secret_key: str | None = None,
    secure_cookies: bool = False,
    login_throttle: LoginThrottle | None = None,
) -> FastAPI:
    """The reviewers' web app for a pipeline configuration.

    Proposals, records and pair weights are read from the Parquet files in
    ``config.output.directory`` (re-read when a run rewrites them; the warehouse is never
    opened); decisions go to the store at ``config.review.url``.

    Parameters
    ----------
    config
        A loaded configuration (`dedup_pipeline.config.load_config`), paths resolved.
    secret_key
        Key that signs session cookies. Default: the environment variable
        ``DEDUP_REVIEW_SECRET``, else a random key.
    secure_cookies
        Mark the session cookie ``Secure`` (sent over HTTPS only): for an app behind TLS.
    login_throttle
        Lock-out policy for wrong passwords (default: 5 within 15 minutes lock the
        username for 15 minutes).

    Returns
    -------
    fastapi.FastAPI
        An ASGI app, e.g. for ``uvicorn.run(app, host="127.0.0.1", port=8000)``.
    """
    store = DecisionStore(config.review.url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="lead-dedup review",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.review = _Services(
        run=ExportedRun(config.output.directory), store=store, templates=_templates()
    )
    app.state.review_sessions = ActiveSessions()
    app.state.login_throttle = login_throttle or LoginThrottle()
    app.add_middleware(
        SessionMiddleware,
        secret_key=resolve_secret(secret_key),
        session_cookie="dedup_review_session",
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=secure_cookies,
    )
    app.add_middleware(SecurityHeadersMiddleware, cacheable_prefixes=["/static/"])
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfFailure, _csrf_failure)
    app.add_exception_handler(ExportsUnavailable, _exports_unavailable)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    return app
