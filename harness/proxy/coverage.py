"""Which of a server's routes does a proxy forward? Asked of the proxy, route by route.

Each route the server serves is requested twice, directly and through the proxy (with the
token), with a harmless request: GET with no parameters, or for write-only routes a body that is
not a valid request (`"harness-probe"`), which every MLflow handler rejects before touching data.
A route is *forwarded* when the proxy says so (`X-Harness-Proxy: forwarded`, the reference
proxy) or, for a proxy that does not say, when both answers have the same status and error code.
A route the server itself does not answer within the timeout is *no answer* (the proxy is not
asked): 3.17.2's `/ajax-api/3.0/mlflow/gateway/supported-models` holds a probe past 20 s here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.proxy.service import AuthProxy, http_request
from harness.runtime.shield import InterruptSafePool

FORWARDED = "forwarded"
NOT_FORWARDED = "not forwarded"
NO_ANSWER = "no answer"
PROBE_BODY = b'"harness-probe"'
PARALLEL_PROBES = 8
_CONVERTER = re.compile(r"<(?:(?P<kind>[a-z]+):)?(?P<name>[^>]+)>")
_WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class Answer:
    status: int
    error_code: str
    decision: str  # X-Harness-Proxy, when the proxy tells


def concrete_path(rule: str) -> str:
    """A Flask/FastAPI rule with its variables filled: `<int:x>` → 0, others → harness-probe."""
    rule = rule.replace("{", "<").replace("}", ">")
    return _CONVERTER.sub(lambda m: "0" if m.group("kind") == "int" else "harness-probe", rule)


def probe_method(methods: list[str]) -> str:
    if "GET" in methods or not methods:
        return "GET"
    return next((m for m in _WRITE_METHODS if m in methods), methods[0])


def _answer(status: int, headers: dict[str, str], body: bytes) -> Answer:
    lowered = {k.lower(): v for k, v in headers.items()}
    code = ""
    if lowered.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body)
            code = str(parsed.get("error_code", "")) if isinstance(parsed, dict) else ""
        except ValueError:
            code = ""
    return Answer(status, code, lowered.get("x-harness-proxy", ""))


def classify(direct: Answer, proxied: Answer) -> str:
    if proxied.decision:
        return FORWARDED if proxied.decision.startswith("forwarded") else NOT_FORWARDED
    same = direct.status == proxied.status and direct.error_code == proxied.error_code
    return FORWARDED if same else NOT_FORWARDED


def coverage(
    routes: list[dict[str, object]], server_url: str, proxy: AuthProxy, timeout: float = 20.0
) -> dict[str, str]:
    """{rule: "forwarded" | "not forwarded"} for every route the server serves."""

    def one(route: dict[str, object]) -> tuple[str, str]:
        rule = str(route["rule"])
        methods = [str(m) for m in route.get("methods", [])]  # type: ignore[attr-defined]
        method = probe_method(methods)
        path = concrete_path(rule)
        body = None if method == "GET" else PROBE_BODY
        headers = {} if body is None else {"Content-Type": "application/json"}
        try:
            direct = _answer(*http_request(server_url + path, method, body, headers, timeout))
        except OSError:  # a timeout included: the server's own answer never came
            return rule, NO_ANSWER
        proxied = _answer(*proxy.request(method, path, body, headers, timeout=timeout))
        return rule, classify(direct, proxied)

    return _parallel(one, routes)


def _parallel(
    work: Callable[[dict[str, object]], tuple[str, str]], routes: list[dict[str, object]]
) -> dict[str, str]:
    with InterruptSafePool(PARALLEL_PROBES) as pool:
        return dict(sorted(pool.map(work, routes)))
