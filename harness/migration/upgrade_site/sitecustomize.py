"""Hooks in the new version's `mlflow db upgrade` (stdlib only, imported at interpreter start
through PYTHONPATH, only into the harness's own upgrades).

`MUH_UPGRADE_LOG=1`: each revision alembic starts is written to stderr as
`[muh-revision] Running upgrade A -> B, description` (alembic logs it at INFO, but MLflow 3.17
no longer configures alembic's logging, so the line is lost; where MLflow still configures it,
that configuration drops this handler and alembic writes its own line): the harness times each
revision from these lines. Nothing else changes.

A planted slow migration step (a test hook: only into the migration drill's upgrade, only when
`MUH_SLOW_MIGRATION` is set).

`MUH_SLOW_MIGRATION=REVISION=SECONDS`: once alembic has loaded the script of REVISION, its
`upgrade()` runs as written and then takes the lock an index build takes on `metrics`
(SHARE: reads go on, writes wait) and sleeps SECONDS inside the migration's transaction, as a
revision that builds an index on a large metrics table would (mlflow#21727). MLflow runs every
revision in one transaction, so the lock is held until the whole upgrade commits. The drill's
report must then name REVISION as the slow step and show the writer's wait.
"""

import functools
import logging
import os
import sys
from typing import Any

_SPEC = os.environ.get("MUH_SLOW_MIGRATION", "")
_REVISION, _, _SECONDS = _SPEC.partition("=")


def _slowed(upgrade: Any) -> Any:
    @functools.wraps(upgrade)  # alembic logs the function's name: "Running upgrade …"
    def slow_upgrade(*args: Any, **kwargs: Any) -> Any:
        result = upgrade(*args, **kwargs)
        from alembic import op  # type: ignore[import-not-found]

        op.execute("LOCK TABLE metrics IN SHARE MODE")
        op.execute(f"SELECT pg_sleep({float(_SECONDS)})")
        return result

    return slow_upgrade


def _patch(util: Any) -> None:
    original = util.load_python_file

    def load_python_file(dir_: Any, filename: Any) -> Any:
        module = original(dir_, filename)
        if getattr(module, "revision", None) == _REVISION and hasattr(module, "upgrade"):
            module.upgrade = _slowed(module.upgrade)
        return module

    util.load_python_file = load_python_file


class _Marked(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"[muh-revision] {record.getMessage()}\n")
        sys.stderr.flush()


if os.environ.get("MUH_UPGRADE_LOG"):
    _logger = logging.getLogger("alembic.runtime.migration")
    _logger.setLevel(logging.INFO)
    _logger.addHandler(_Marked())

if _REVISION and _SECONDS:
    try:  # alembic is imported up front here (the upgrade imports it anyway)
        import alembic.util  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        _patch(alembic.util)
