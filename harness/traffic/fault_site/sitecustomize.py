"""A planted fault inside an MLflow server process (`run --replay … --inject-fault ROUTE=FIELD`,
a test hook; stdlib only, imported at interpreter start through PYTHONPATH, in the server and
each of its workers).

When `MUH_INJECT_FAULTS` holds `{route: field}`, Flask's WSGI entry point is wrapped: the
JSON answer to a request whose path is `route` (or its `/ajax-api` twin) gets the value at
`field` (dotted keys; a list on the way is entered element by element) replaced by
"injected-fault". MLflow's REST routes are Flask routes in 2.x and in 3.x (the Flask app
mounted in the FastAPI app), so one hook serves both.
"""

import json
import os
from typing import Any

_FAULTS = json.loads(os.environ.get("MUH_INJECT_FAULTS", "") or "{}")
MARK = "injected-fault"


def _route(path: str) -> str:
    return "/api/" + path[len("/ajax-api/"):] if path.startswith("/ajax-api/") else path


def plant(value: Any, keys: list[str]) -> Any:
    if not keys:
        return MARK
    if isinstance(value, list):
        return [plant(item, keys) for item in value]
    if isinstance(value, dict) and keys[0] in value:
        value[keys[0]] = plant(value[keys[0]], keys[1:])
    return value


def _patch(flask_class: Any) -> None:
    original = flask_class.wsgi_app

    def wsgi_app(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        field = _FAULTS.get(_route(environ.get("PATH_INFO", "")))
        if not field:
            return original(self, environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        result = original(self, environ, capture)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        try:
            body = json.dumps(plant(json.loads(body), field.split("."))).encode()
        except ValueError:
            pass
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    flask_class.wsgi_app = wsgi_app


if _FAULTS:
    try:  # Flask is imported up front here (the server imports it anyway)
        import flask.app
    except ImportError:
        pass
    else:
        _patch(flask.app.Flask)
