"""CRM requests keep each CRM's rate, retry what may pass next time, and never leak a token."""

import httpx
import pytest

from dedup_pipeline.crm import (
    RATE_LIMITS,
    CrmHttpError,
    CrmTransport,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    redact,
    token_from_env,
)

WEBHOOK = "https://example.bitrix24.ru/rest/1/s3cr3tt0ken"


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _transport(answers, fake: FakeTime, **options) -> CrmTransport:
    calls = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return CrmTransport(
        WEBHOOK,
        limit=options.pop("limit", RATE_LIMITS["bitrix24"]),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=fake.clock,
        sleep=fake.sleep,
        **options,
    )


def test_requests_keep_to_the_crm_rate():
    fake = FakeTime()
    limiter = RateLimiter(RateLimit(calls=2, period=1.0), clock=fake.clock, sleep=fake.sleep)
    waits = [limiter.wait() for _ in range(5)]
    # Two at once, then each pair a second after the one before.
    assert waits == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert RATE_LIMITS["hubspot"] == RateLimit(calls=100, period=10.0)
    assert RATE_LIMITS["amocrm"] == RateLimit(calls=7, period=1.0)


def test_429_5xx_and_timeouts_are_retried_with_backoff():
    fake = FakeTime()
    transport = _transport(
        [
            httpx.Response(
                429, headers={"Retry-After": "3"}, json={"error": "QUERY_LIMIT_EXCEEDED"}
            ),
            httpx.Response(503, text="busy"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"result": {"items": []}}),
        ],
        fake,
        retry=RetryPolicy(attempts=4, base_delay=0.5),
    )
    response = transport.request("POST", "crm.item.list.json", json={"entityTypeId": 3})
    assert response.json() == {"result": {"items": []}}
    assert transport.requests_sent == 4
    assert fake.slept[0] == 3.0  # Retry-After is honoured
    assert 1.0 <= fake.slept[1] <= 1.25 and 2.0 <= fake.slept[2] <= 2.5  # then doubled


def test_a_429_without_retry_after_waits_out_the_crm_window():
    fake = FakeTime()
    limited = {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
    transport = _transport(
        [httpx.Response(429, json=limited), httpx.Response(200, json={"results": []})],
        fake,
        limit=RATE_LIMITS["hubspot"],
    )
    assert transport.request("GET", "/crm/v3/objects/contacts").status_code == 200
    # HubSpot counts requests over 10 s: a 0.5 s backoff would be refused again.
    assert fake.slept == [10.0]


def test_a_request_that_keeps_failing_raises_without_the_token(caplog):
    fake = FakeTime()
    transport = _transport(
        [httpx.Response(502, text="bad gateway")] * 3, fake, retry=RetryPolicy(attempts=3)
    )
    with pytest.raises(CrmHttpError) as raised:
        transport.request("POST", "crm.entity.mergeBatch.json")
    assert raised.value.status == 502
    assert "HTTP 502 after 3 attempts" in str(raised.value)
    assert "s3cr3tt0ken" not in str(raised.value)
    assert "s3cr3tt0ken" not in caplog.text
    assert "/rest/1/***/crm.entity.mergeBatch.json" in str(raised.value)


def test_client_errors_are_answers_not_retries():
    fake = FakeTime()
    transport = _transport([httpx.Response(400, json={"error": "INVALID_ARG"})], fake)
    assert transport.request("GET", "crm.item.get.json").status_code == 400
    assert transport.requests_sent == 1


def test_tokens_come_from_the_environment_and_are_redacted(monkeypatch):
    assert redact(WEBHOOK + "/crm.item.list.json") == (
        "https://example.bitrix24.ru/rest/1/***/crm.item.list.json"
    )
    assert redact("https://x.test/api?access_token=abc&page=2") == (
        "https://x.test/api?access_token=***&page=2"
    )
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-123")
    assert token_from_env("HUBSPOT_TOKEN") == "pat-na1-123"
    monkeypatch.delenv("AMOCRM_TOKEN", raising=False)
    with pytest.raises(CrmHttpError, match="AMOCRM_TOKEN is not set"):
        token_from_env("AMOCRM_TOKEN")
