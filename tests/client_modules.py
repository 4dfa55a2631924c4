"""The client modules (harness/scenarios/clients/, run inside MLflow environments) loaded from
their files in the test's interpreter; stub what they import first."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

CLIENTS = Path(__file__).resolve().parents[1] / "harness" / "scenarios" / "clients"


def load_client(name: str) -> types.ModuleType:
    """`clients/<name>.py` as a fresh module of its own (`<name>_under_test`)."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", CLIENTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
