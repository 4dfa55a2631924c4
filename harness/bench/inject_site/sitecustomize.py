"""Latency injection inside an MLflow server process (stdlib only; imported at interpreter
start through PYTHONPATH, in the server and in each of its workers).

When `MUH_INJECT_DELAYS_FILE` is set, Flask's WSGI entry point is wrapped once `flask.app` is
imported: a request whose path matches a route in that JSON file (`{"routes": {route: seconds}}`;
a route ending in `/` matches as a prefix, any other exactly) sleeps that long before MLflow
handles it. The file is re-read whenever it changes, so the harness can set delays after its
warm-up without restarting the server. No proxy sits between client and server: connections
behave exactly as they do without injection. MLflow's REST routes are Flask routes in 2.x
(gunicorn) and in 3.x (the Flask app mounted in the FastAPI app under uvicorn).
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from typing import Any

_FILE = os.environ.get("MUH_INJECT_DELAYS_FILE", "")
_STATE: dict[str, Any] = {"mtime": None, "exact": {}, "prefix": ()}


def _delays() -> dict[str, Any]:
    try:
        mtime = os.stat(_FILE).st_mtime_ns
    except OSError:
        return _STATE
    if mtime != _STATE["mtime"]:
        try:
            with open(_FILE, encoding="utf-8") as handle:
                routes = json.load(handle).get("routes", {})
        except (OSError, ValueError):
            return _STATE  # half-written: the harness replaces the file atomically anyway
        _STATE["exact"] = {r: float(s) for r, s in routes.items() if not r.endswith("/")}
        _STATE["prefix"] = tuple((r, float(s)) for r, s in routes.items() if r.endswith("/"))
        _STATE["mtime"] = mtime
    return _STATE


def delay_for(path: str) -> float:
    state = _delays()
    seconds = float(state["exact"].get(path, 0.0))
    for route, extra in state["prefix"]:
        if path.startswith(route):
            seconds = max(seconds, extra)
    return seconds


def _patch(flask_class: Any) -> None:
    original = flask_class.wsgi_app

    def wsgi_app(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        seconds = delay_for(environ.get("PATH_INFO", ""))
        if seconds > 0:
            time.sleep(seconds)
        return original(self, environ, start_response)

    flask_class.wsgi_app = wsgi_app


class _AfterFlaskApp(importlib.abc.MetaPathFinder):
    """Finds `flask.app` like the normal finders do, and patches `Flask` once it has run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "flask.app":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _patch(module.Flask)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if _FILE:
    sys.meta_path.insert(0, _AfterFlaskApp())
