"""Webhook notification with retries (stdlib only)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

ATTEMPTS = 4
FIRST_BACKOFF_S = 0.25


def notify(url: str, payload: dict[str, Any], key: str, timeout: float = 5.0) -> dict[str, Any]:
    """POST `payload` as JSON; 5xx and connection errors are retried with doubling backoff,
    4xx is not. Returns whether it was delivered and after how many attempts."""
    body = json.dumps(payload, sort_keys=True).encode()
    delay = FIRST_BACKOFF_S
    for attempt in range(1, ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return {"sent": True, "attempts": attempt, "status": answer.status}
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return {"sent": False, "attempts": attempt, "status": error.code}
        except OSError:
            pass
        if attempt < ATTEMPTS:
            time.sleep(delay)
            delay *= 2
    return {"sent": False, "attempts": ATTEMPTS, "status": None}
