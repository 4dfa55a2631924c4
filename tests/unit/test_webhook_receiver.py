"""The local webhook receiver answers as scripted and records every delivery."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from harness.services.webhook import ALWAYS, WebhookReceiver


def post(url: str, body: object, key: str) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_records_deliveries_and_listens_on_loopback_only() -> None:
    with WebhookReceiver() as hook:
        assert urlsplit(hook.url).hostname == "127.0.0.1"
        assert post(hook.url, {"model_name": "m", "delta": 0.02}, "m/2") == 200
        [delivery] = hook.deliveries("m/2")
        assert delivery.body == {"model_name": "m", "delta": 0.02}
        assert delivery.headers["Idempotency-Key"] == "m/2"
        assert delivery.path == "/deltaone"
        assert hook.accepted("m/2") == [delivery]
        assert hook.deliveries("other") == []


def test_fails_first_n_then_accepts() -> None:
    with WebhookReceiver() as hook:
        hook.fail_first("m/2", 2)
        answers = [post(hook.url, {}, "m/2") for _ in range(3)]
        assert answers == [503, 503, 200]
        assert [d.answered for d in hook.deliveries("m/2")] == answers
        assert len(hook.accepted("m/2")) == 1
        times = [d.arrived_seconds for d in hook.all()]
        assert times == sorted(times)


def test_always_failing_key_never_accepts_and_others_are_unaffected() -> None:
    with WebhookReceiver() as hook:
        hook.fail_first("down/2", ALWAYS, status=500)
        assert [post(hook.url, {}, "down/2") for _ in range(4)] == [500] * 4
        assert post(hook.url, {}, "up/2") == 200
        assert hook.accepted("down/2") == []


def test_unparseable_body_is_kept_as_text() -> None:
    with WebhookReceiver() as hook:
        request = urllib.request.Request(hook.url, data=b"not json", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass
        assert hook.all()[0].body == {"unparsed": "not json"}


def test_port_is_released_on_exit() -> None:
    with WebhookReceiver() as hook:
        port = urlsplit(hook.url).port
    assert port is not None
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))
