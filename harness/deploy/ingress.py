"""The stand-in ingress: a side's public URL, served on 127.0.0.1 (stdlib, its own process).

    MLFLOW_UPGRADE_HARNESS_INGRESS='{…}' python -m harness.deploy.ingress

Clients (MLflow's, the scenarios', your test suite's) use `http://127.0.0.1:PORT/PREFIX` as
their tracking URI; every request goes on to the side's server on 127.0.0.1 as the team's
ingress would send it for `https://mlflow.example.com/PREFIX`: `Host: mlflow.example.com`, the
forwarded headers the description names (`X-Forwarded-For/-Proto/-Host`, …, their values from
the public URL and the client, or as given), and the path with the prefix kept or stripped.
The public host name is never resolved and never connected to: the only upstream is the
server's loopback address. An absolute `Location` the server answers with for the public URL
is rewritten to this front, so a client following a redirect never leaves 127.0.0.1.

One JSON line per request goes to the access log (method, path, status, who answered, ms).
A path outside the prefix gets a JSON 404 (`X-Harness-Proxy: no-route`), as an ingress without
a rule for it; a server that does not answer gives 502/504 (`bad-gateway`, `timeout`). Every
other answer is the server's own, unchanged (`forwarded`). Settings come from the environment
(JSON), so no value (a header the team's ingress adds may be a key) is on a command line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any
from urllib.parse import urlsplit

from harness.proxy.auth_proxy import ProxyHandler, ProxySettings, serve, serve_until_stopped

SETTINGS_ENV = "MLFLOW_UPGRADE_HARNESS_INGRESS"
UPSTREAM_TIMEOUT_S = 300.0


class IngressSettings(ProxySettings):
    def __init__(self, data: dict[str, Any], access_log: IO[str] | None = None) -> None:
        super().__init__(data["upstream"], "", ("/",), UPSTREAM_TIMEOUT_S, access_log)
        self.scheme: str = data["scheme"]
        self.host_header: str = data["host_header"]
        self.public_port: int = int(data["public_port"])
        self.prefix: str = data.get("prefix", "")
        self.strip: bool = bool(data.get("strip", False))
        self.headers: list[tuple[str, str]] = [(n, v) for n, v in data.get("headers", [])]
        self.front: str = data["front"]  # this front's own origin, http://127.0.0.1:PORT

    @property
    def public_origin(self) -> str:
        return f"{self.scheme}://{self.host_header}"


class IngressHandler(ProxyHandler):
    settings: IngressSettings
    html_404_as_json = False  # the server's answers pass unchanged

    def _decide_and_answer(self, path: str) -> tuple[int, str]:
        prefix = self.settings.prefix
        if prefix and path != prefix and not path.startswith(prefix + "/"):
            self.decision = "no-route"
            self._discard_body()
            return self._json(404, {"error_code": "ENDPOINT_NOT_FOUND",
                                    "message": f"no ingress rule for {path}: the public URL's "
                                               f"path is {prefix}"}), "no-route"
        if prefix and self.settings.strip:
            self.path = self.path[len(prefix):] or "/"
            if not self.path.startswith("/"):
                self.path = "/" + self.path
        return self._forward(path)

    def _upstream_headers(self) -> dict[str, str]:
        return {"Host": self.settings.host_header, **self._context_headers()}

    def _context_headers(self) -> dict[str, str]:
        settings, client = self.settings, self.client_address[0]
        derived = {
            "x-forwarded-for": ", ".join(filter(None, (self.headers.get("X-Forwarded-For"),
                                                       client))),
            "x-forwarded-proto": settings.scheme,
            "x-forwarded-host": settings.host_header,
            "x-forwarded-port": str(settings.public_port),
            "x-forwarded-prefix": settings.prefix or "/",
            "x-real-ip": client,
            "forwarded": f'for={client};host="{settings.host_header}";proto={settings.scheme}',
        }
        return {name: value or derived.get(name.lower(), "") for name, value in settings.headers}

    def _relayed(self, name: str, value: str) -> str:
        """A redirect to the public URL comes back to this front (the public host name is
        never looked up); one to anywhere else passes unchanged."""
        if name.lower() != "location":
            return value
        origin = self.settings.public_origin
        if value == origin or value.startswith(origin + "/"):
            return self.settings.front + value[len(origin):]
        return value


def main() -> int:
    try:
        data = json.loads(os.environ[SETTINGS_ENV])
        log = open(data["access_log"], "a") if data.get("access_log") else None  # noqa: SIM115
        settings = IngressSettings(data, log)
        port = urlsplit(settings.front).port
    except (KeyError, ValueError, TypeError, OSError) as error:
        print(f"ingress: bad settings in {SETTINGS_ENV}: {error}", file=sys.stderr)
        return 2
    try:
        server = serve(port or 0, settings, IngressHandler)
    except OSError as error:
        print(f"ingress: cannot listen on {settings.front}: {error}", file=sys.stderr)
        return 2
    print(f"ingress {settings.public_origin}{settings.prefix} on {settings.front} -> "
          f"{data['upstream']}", file=sys.stderr, flush=True)
    return serve_until_stopped(server)


if __name__ == "__main__":
    sys.exit(main())
