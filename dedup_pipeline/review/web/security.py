"""Logins, CSRF tokens and response headers of the review app.

The session is a signed cookie (Starlette's ``SessionMiddleware``, ``itsdangerous``) holding the
reviewer's username, a CSRF token and a session id. Every form carries the token in a hidden
input; a POST whose token is missing or differs from the session's is refused with 403.
Logging in starts a new session with a new token; the server keeps the ids of the sessions it
started (`ActiveSessions`) and logging out drops one, so a copied cookie dies with it. Wrong
passwords lock a username out for a while (`LoginThrottle`).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_FIELD",
    "SECRET_ENV",
    "ActiveSessions",
    "CsrfFailure",
    "LoginRequired",
    "LoginThrottle",
    "SecurityHeadersMiddleware",
    "csrf_token",
    "current_user",
    "log_in",
    "log_out",
    "require_csrf",
    "require_user",
    "resolve_secret",
    "safe_next",
]

#: Environment variable with the key that signs session cookies.
SECRET_ENV = "DEDUP_REVIEW_SECRET"

#: Name of the hidden form field holding the CSRF token.
CSRF_FIELD = "csrf_token"

_USER = "user"
_CSRF = "csrf"
_SESSION_ID = "sid"

_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class LoginRequired(Exception):
    """Raised by `require_user` when nobody is logged in; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfFailure(Exception):
    """Raised by `require_csrf` for a POST without the session's CSRF token; answered with 403."""


def resolve_secret(secret_key: str | None) -> str:
    """The key that signs session cookies.

    Parameters
    ----------
    secret_key
        Used when given; otherwise the environment variable ``DEDUP_REVIEW_SECRET``;
        otherwise a random key.
    """
    if secret_key:
        return secret_key
    return os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


class ActiveSessions:
    """The sessions this server started and has not ended.

    The cookie is signed, so the server cannot take it back; it names a session id, and
    only ids in this set count. Logging out removes the id: a copy of the cookie is then
    worth nothing. A restart ends every session (reviewers log in again).
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._ids.add(session_id)
        return session_id

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._ids

    def end(self, session_id: object) -> None:
        with self._lock:
            self._ids.discard(session_id)  # type: ignore[arg-type]


class LoginThrottle:
    """Lock a username out after repeated wrong passwords.

    After ``max_failures`` failed logins within ``window`` seconds, the username is
    locked for ``lockout`` seconds from the last failure, the right password included;
    a successful login clears its failures.
    """

    def __init__(
        self, *, max_failures: int = 5, window: float = 15 * 60, lockout: float = 15 * 60
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def locked_for(self, username: str, now: float | None = None) -> float:
        """Seconds ``username`` is still locked out (0 when it may try)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [
                t for t in self._failures.get(username.casefold(), []) if now - t < self.window
            ]
            if len(recent) < self.max_failures:
                return 0.0
            return max(0.0, recent[-1] + self.lockout - now)

    def failed(self, username: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = username.casefold()
        with self._lock:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            self._failures[key] = [*recent, now][-self.max_failures :]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.casefold(), None)


def _sessions(request: Request) -> ActiveSessions | None:
    return getattr(request.app.state, "review_sessions", None)


def current_user(request: Request) -> str | None:
    """Username of the logged-in reviewer, or None (also for a session ended by logout)."""
    user = request.session.get(_USER)
    if not isinstance(user, str) or not user:
        return None
    active = _sessions(request)
    if active is not None and request.session.get(_SESSION_ID) not in active:
        return None
    return user


def log_in(request: Request, username: str) -> None:
    """Start a new session for ``username`` with a fresh CSRF token."""
    request.session.clear()
    request.session[_USER] = username
    request.session[_CSRF] = secrets.token_urlsafe(32)
    active = _sessions(request)
    if active is not None:
        request.session[_SESSION_ID] = active.start()


def log_out(request: Request) -> None:
    """End the session, on the server too: the cookie no longer logs anyone in."""
    active = _sessions(request)
    if active is not None:
        active.end(request.session.get(_SESSION_ID))
    request.session.clear()


def require_user(request: Request) -> str:
    """FastAPI dependency: the logged-in reviewer; raises `LoginRequired` otherwise."""
    user = current_user(request)
    if user is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise LoginRequired(path if request.method == "GET" else "/")
    return user


async def require_csrf(request: Request) -> None:
    """FastAPI dependency: the form's CSRF token must equal the session's."""
    expected = request.session.get(_CSRF)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if (
        not isinstance(expected, str)
        or not expected
        or not isinstance(sent, str)
        or not secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfFailure("the form's security token is missing or out of date")


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class SecurityHeadersMiddleware:
    """Adds a strict Content-Security-Policy and related headers to every response.

    Pages use no inline script or style, so ``'self'`` suffices. Responses other than
    static files are not cached: they show personal data.

    Parameters
    ----------
    app
        The ASGI app to wrap.
    cacheable_prefixes
        Path prefixes whose responses may be cached (static files).
    """

    def __init__(self, app: ASGIApp, cacheable_prefixes: Iterable[str] = ()) -> None:
        self.app = app
        self.cacheable_prefixes = tuple(cacheable_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cacheable = bool(self.cacheable_prefixes) and path.startswith(self.cacheable_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _HEADERS if item[0] not in present)
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
