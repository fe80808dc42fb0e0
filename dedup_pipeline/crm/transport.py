"""HTTP to a CRM: within its rate limit, retried when the CRM or the network falters.

Every connector talks through `CrmTransport`. It keeps each CRM's published request
rate (`RATE_LIMITS`), retries 429 answers (after ``Retry-After`` when given), 5xx answers
and timeouts with exponential backoff, and never writes a token to a log or an error:
tokens come from environment variables, and URLs are redacted (a Bitrix24 webhook URL
carries its token in the path).
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "RATE_LIMITS",
    "CrmHttpError",
    "CrmTransport",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "redact",
    "token_from_env",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` requests in any ``period`` seconds."""

    calls: int
    period: float


#: The request rates the CRMs publish for one portal, account or private app.
RATE_LIMITS: dict[str, RateLimit] = {
    "bitrix24": RateLimit(calls=2, period=1.0),
    "amocrm": RateLimit(calls=7, period=1.0),
    "hubspot": RateLimit(calls=100, period=10.0),
}


class RateLimiter:
    """Sliding window over the last ``limit.calls`` request times.

    ``clock`` and ``sleep`` are injectable so tests need not wait.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=limit.calls)

    def wait(self) -> float:
        """Block until one more request keeps within the limit; return the seconds waited."""
        waited = 0.0
        if len(self._sent) == self.limit.calls:
            ready_at = self._sent[0] + self.limit.period
            waited = max(0.0, ready_at - self._clock())
            if waited:
                self._sleep(waited)
        self._sent.append(self._clock())
        return waited


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request the CRM or the network did not serve.

    Attributes
    ----------
    attempts
        Tries in all, the first included.
    base_delay, max_delay
        Backoff doubles from ``base_delay`` up to ``max_delay`` seconds, with up to 25%
        jitter so that parallel clients do not retry in step.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        backoff = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return backoff * (1 + random.random() / 4)


class CrmHttpError(RuntimeError):
    """A request failed for good: the CRM's status and answer, the URL redacted."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


# A Bitrix24 inbound webhook: /rest/<user id>/<token>/<method>.
_WEBHOOK_TOKEN = re.compile(r"(/rest/\d+/)[^/]+")
_QUERY_SECRET = re.compile(r"((?:access_token|auth|token|hapikey)=)[^&]+", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with the tokens it may carry replaced by ``***``."""
    return _QUERY_SECRET.sub(r"\1***", _WEBHOOK_TOKEN.sub(r"\1***", url))


def token_from_env(variable: str) -> str:
    """A CRM token or webhook URL from environment variable ``variable``.

    Raises
    ------
    CrmHttpError
        When the variable is unset or empty, naming it (not its value).
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        raise CrmHttpError(f"environment variable {variable} is not set: it must hold the token")
    return value


_RETRIED_STATUS = {429, 500, 502, 503, 504}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class CrmTransport:
    """Requests to one CRM, rate-limited and retried.

    Parameters
    ----------
    base_url
        The API root (for Bitrix24, the inbound webhook URL, token included).
    limit
        The CRM's request rate (`RATE_LIMITS`).
    token
        Sent as ``Authorization: Bearer <token>`` when given.
    retry
        When to give up.
    client
        The ``httpx.Client`` to send with (tests pass one with a mock transport).
    timeout
        Seconds before a request counts as timed out (and is retried).
    clock, sleep
        Time functions, injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        limit: RateLimit,
        token: str | None = None,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._retry = retry or RetryPolicy()
        self._client = client or httpx.Client(timeout=timeout)
        self._limiter = RateLimiter(limit, clock=clock, sleep=sleep)
        self._sleep = sleep
        self.requests_sent = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return the first answer that is neither 429 nor 5xx.

        ``json`` is sent as a JSON body, ``data`` as a form body; ``headers`` add to the
        authorization header.

        Raises
        ------
        CrmHttpError
            When every attempt timed out or was answered 429 or 5xx.
        """
        url = f"{self._base_url}/{path.lstrip('/')}"
        problem = ""
        status = None
        body: Any = None
        for attempt in range(1, self._retry.attempts + 1):
            self._limiter.wait()
            self.requests_sent += 1
            try:
                response = self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers={**self._headers, **(headers or {})},
                )
            except httpx.TimeoutException:
                problem, status, body, retry_after = "timed out", None, None, None
            except httpx.TransportError as error:
                problem, status, body, retry_after = type(error).__name__, None, None, None
            else:
                if response.status_code not in _RETRIED_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
                status, body = response.status_code, response.text[:500]
                retry_after = _retry_after(response)
                if response.status_code == 429 and retry_after is None:
                    # Without Retry-After, the CRM's window must pass: HubSpot counts
                    # 10 s, longer than the first backoffs.
                    retry_after = self._limiter.limit.period
            if attempt < self._retry.attempts:
                delay = self._retry.delay(attempt, retry_after)
                _log.warning(
                    "%s %s: %s, retrying in %.1f s (attempt %d of %d)",
                    method,
                    redact(url),
                    problem,
                    delay,
                    attempt,
                    self._retry.attempts,
                )
                self._sleep(delay)
        raise CrmHttpError(
            f"{method} {redact(url)}: {problem} after {self._retry.attempts} attempts",
            status=status,
            body=body,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
