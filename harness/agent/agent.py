"""JSON-lines agent, executed by an MLflow environment's interpreter (stdlib only).

Reads one request per line on stdin: {"id", "path", "function", "kwargs"}; loads the module file
at `path` once, calls `function(**kwargs)` and writes {"id", "ok", "result" | "error"} to the
response pipe. Anything printed by MLflow goes to stderr (the agent's log), never into answers.
"""

import importlib
import importlib.util
import json
import os
import sys
import time
import traceback
from types import ModuleType
from typing import Any

_MODULES: dict[str, ModuleType] = {}


def _load(path: str) -> ModuleType:
    module = _MODULES.get(path)
    if module is None:
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = "harness_client_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load client module " + path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _MODULES[path] = module
    return module


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    try:
        function = getattr(_load(request["path"]), request["function"])
        result = function(**request.get("kwargs", {}))
        return {"id": request.get("id"), "ok": True, "result": result}
    except BaseException as error:  # the caller decides what a failure means
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return {
            "id": request.get("id"),
            "ok": False,
            "error": {
                "type": type(error).__module__ + "." + type(error).__qualname__,
                "message": str(error)[:4000],
                "traceback": traceback.format_exc()[-8000:],
            },
        }


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from MLflow or its dependencies go to the log
    sys.stdout = sys.stderr
    started = time.monotonic()
    info: dict[str, Any] = {"python": sys.version.split()[0]}
    for name in sys.argv[1:]:
        module = importlib.import_module(name)
        info[name] = getattr(module, "__version__", None)
    info["preload_seconds"] = round(time.monotonic() - started, 3)
    answers.write(json.dumps({"ready": True, "info": info}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        response = _handle(json.loads(line))
        answers.write(json.dumps(response, default=str) + "\n")


if __name__ == "__main__":
    main()
