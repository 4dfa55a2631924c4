"""The replay loop: each recorded request, in the recorded order, to A, B and the new server at
once (the three calls in parallel and in a shuffled order, so the time of day and the
machine's load fall on all three alike), ids mapped per server, answers compared and timed.

The recording is read as a stream and nothing per request is kept: memory holds the id maps,
the per-field counts with three examples each, and a bounded sample of times per route.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.results.phase import Upgrade
from harness.runtime.shield import InterruptSafePool
from harness.traffic.compare import Comparison, observe
from harness.traffic.exchange import Body, Exchange
from harness.traffic.ids import CREATES, IdMap
from harness.traffic.result import difference, ordered
from harness.traffic.timing import Timing
from harness.traffic.transport import Answer, Target

ROLES = ("a", "b", "new")
SYNTHETIC_MAX = 8 << 20  # an artifact upload is replayed with at most this many bytes
PROGRESS_EVERY = 1000
NOISE_SHOWN = 40
FAILED_SHOWN = 20
ORDER_SEED = 33
NO_BODY = "no request body in the source (an access log has none)"


@dataclass
class ReplayLimits:
    requests: int | None = None  # replay at most this many
    seconds: float = 3600.0  # stop starting requests after this long


@dataclass
class Counts:
    read: int = 0
    replayed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stopped: str = ""


def synthetic(size: int, sha256: str) -> bytes:
    """Stand-in bytes for an artifact recorded as size + digest: the same on every server."""
    seed = hashlib.sha256(sha256.encode()).digest()
    size = min(size, SYNTHETIC_MAX)
    return (seed * (size // len(seed) + 1))[:size]


def request_of(body: Body, ids: IdMap, exchange: Exchange) -> tuple[str, bytes | None,
                                                                      dict[str, str]]:
    """(target, body, headers) of a recorded request as one server must receive it."""
    payload: Any = body.json if body.is_json else body.text
    path, query, mapped = ids.request(exchange.path, exchange.query, payload)
    target = path + (f"?{query}" if query else "")
    headers = {"Content-Type": body.content_type} if body.content_type else {}
    if body.is_json:
        headers.setdefault("Content-Type", "application/json")
        return target, json.dumps(mapped).encode(), headers
    if body.text is not None:
        return target, str(mapped).encode(), headers
    if body.size is not None:
        headers.setdefault("Content-Type", "application/octet-stream")
        return target, synthetic(body.size, body.sha256), headers
    return target, None, headers


class Replay:
    def __init__(self, targets: dict[str, Target], threshold: float,
                 limits: ReplayLimits | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.targets = targets
        self.limits = limits or ReplayLimits()
        self.progress = progress or (lambda line: None)
        self.ids = {role: IdMap() for role in ROLES}
        self.comparison = Comparison()
        self.timing = Timing(threshold)
        self.counts = Counts()
        self._order = random.Random(ORDER_SEED)

    def run(self, exchanges: Iterable[Exchange]) -> Counts:
        began = time.monotonic()
        pool = InterruptSafePool(max_workers=len(ROLES), thread_name_prefix="replay")
        try:
            for exchange in exchanges:
                if self._stop(began):
                    break
                self.counts.read += 1
                reason = skipped(exchange)
                if reason:
                    self.counts.skipped[reason] += 1
                    continue
                self._one(exchange, pool)
                self.counts.replayed += 1
                if self.counts.replayed % PROGRESS_EVERY == 0:
                    rate = self.counts.replayed / max(time.monotonic() - began, 1e-9)
                    self.progress(f"{self.counts.replayed} requests replayed ({rate:.0f}/s)")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for target in self.targets.values():
                target.close()
            self.counts.seconds = time.monotonic() - began
        return self.counts

    def _stop(self, began: float) -> bool:
        limit = self.limits.requests
        if limit is not None and self.counts.replayed >= limit:
            self.counts.stopped = f"the first {limit} requests (--replay-requests)"
            return True
        if time.monotonic() - began > self.limits.seconds:
            self.counts.stopped = (f"{self.counts.replayed} requests in the "
                                   f"{self.limits.seconds:.0f}s bound (--replay-timeout)")
            return True
        return False

    def _send(self, role: str, exchange: Exchange) -> Answer:
        target, body, headers = request_of(exchange.request, self.ids[role], exchange)
        return self.targets[role].send(exchange.method, target, body, headers)

    def _one(self, exchange: Exchange, pool: InterruptSafePool) -> None:
        # Sent in a shuffled order: the first call's thread has the interpreter to itself a
        # little longer, and no server may always be first (its times would read faster).
        order = self._order.sample(ROLES, len(ROLES))
        futures = {role: pool.submit(self._send, role, exchange) for role in order}
        answers = {role: futures[role].result() for role in ROLES}
        route = exchange.route
        recorded = exchange.response
        fields = {}
        for role, answer in answers.items():
            ids = self.ids[role]
            if route in CREATES and recorded is not None and recorded.is_json \
                    and answer.is_json:
                ids.learn(route, exchange.request.json, recorded.json, answer.json)
            body = ids.answer(answer.json) if answer.is_json else None
            if answer.text is not None:
                answer = Answer(answer.status, answer.seconds, text=ids.answer(answer.text),
                                size=answer.size)
            fields[role] = observe(answer, body)
        self.comparison.add(exchange, fields["a"], fields["b"], fields["new"])
        if not any(a.error for a in answers.values()):
            self.timing.add(route, answers["a"].seconds, answers["b"].seconds,
                            answers["new"].seconds)

    def summary(self, upgrade: Upgrade) -> dict[str, Any]:
        """The phase's data for results.json (see docs/results-format.md)."""
        counts = self.counts
        found = [difference(route, name, stats, upgrade)
                 for route, name, stats in self.comparison.beyond_noise()]
        noise = self.comparison.noise_fields()
        failed = self.comparison.failed_everywhere.most_common(FAILED_SHOWN)
        return {
            "replay": {"read": counts.read, "replayed": counts.replayed,
                       "skipped": dict(counts.skipped), "seconds": round(counts.seconds, 2),
                       "rate_per_s": round(counts.replayed / counts.seconds, 1)
                       if counts.seconds > 0 else 0.0},
            "stopped": counts.stopped,
            "differences": ordered(found),
            "noise": {"fields": len(noise), "shown": noise[:NOISE_SHOWN]},
            "failed_everywhere": [{"route": route, "status": status, "count": count}
                                  for (route, status), count in failed],
            "ids_mapped": {role: ids.size for role, ids in self.ids.items()},
            "timing": self.timing.result(),
        }


def skipped(exchange: Exchange) -> str:
    """Why an exchange cannot be replayed ("" when it can)."""
    if exchange.method not in ("GET", "HEAD", "DELETE", "OPTIONS") and exchange.request.empty \
            and exchange.response is None:
        return NO_BODY
    return ""
