"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.runtime.processes import REGISTRY


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Each test starts with a clear cancel flag and leaves no registered process behind."""
    REGISTRY.reset()
    yield
    leftovers = REGISTRY.running()
    REGISTRY.stop_everything()
    REGISTRY.reset()
    assert not leftovers, f"test left processes running: {[p.name for p in leftovers]}"


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "AWS_")):
            monkeypatch.delenv(key)
