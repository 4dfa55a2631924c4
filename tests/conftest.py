"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.runtime.processes import REGISTRY


@pytest.fixture(autouse=True)
def _no_leaked_processes() -> Iterator[None]:
    """A test leaves no process behind that it started itself (module fixtures may keep
    theirs until the module ends; they stop them on teardown)."""
    if not REGISTRY.running():
        REGISTRY.reset()
    before = {id(p) for p in REGISTRY.running()}
    yield
    leftovers = [p for p in REGISTRY.running() if id(p) not in before]
    for process in leftovers:
        process.stop(grace_seconds=2)
    assert not leftovers, f"test left processes running: {[p.name for p in leftovers]}"


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "AWS_")):
            monkeypatch.delenv(key)
