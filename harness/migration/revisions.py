"""MLflow's alembic revision graph, read from an environment's migration scripts as text.

Reading the files (not importing them) keeps MLflow out of the harness process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

_REVISION = re.compile(r'^revision\s*=\s*["\']([0-9a-f]+)["\']', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*(None|["\']([0-9a-f]+)["\'])', re.MULTILINE)


TRACKING = "mlflow/store/db_migrations/versions"
AUTH = "mlflow/server/auth/db/migrations/versions"  # the basic-auth app's own alembic history


@dataclass(frozen=True)
class Revision:
    id: str
    down: str | None
    description: str


@dataclass(frozen=True)
class RevisionGraph:
    revisions: dict[str, Revision]

    @classmethod
    def from_env(cls, env_path: Path, scripts: str = TRACKING) -> RevisionGraph:
        """The graph of the tracking store (default) or of `AUTH`, the basic-auth database."""
        folders = sorted(env_path.glob(f"lib/python*/site-packages/{scripts}"))
        if not folders:
            raise HarnessError(f"no MLflow migration scripts ({scripts}) in environment "
                               f"{env_path}")
        return cls.from_folder(folders[0])

    @classmethod
    def from_folder(cls, folder: Path) -> RevisionGraph:
        revisions: dict[str, Revision] = {}
        for script in folder.glob("*.py"):
            text = script.read_text(errors="replace")
            found, down = _REVISION.search(text), _DOWN.search(text)
            if found is None or down is None:
                continue
            doc = text.split('"""')[1].strip().splitlines()[0] if text.startswith('"""') else ""
            revisions[found.group(1)] = Revision(found.group(1), down.group(2), doc)
        return cls(revisions)

    @property
    def head(self) -> str:
        downs = {r.down for r in self.revisions.values()}
        heads = sorted(r for r in self.revisions if r not in downs)
        if len(heads) != 1:
            raise HarnessError(f"expected one alembic head, found {heads}")
        return heads[0]

    def between(self, start: str | None, end: str) -> list[Revision]:
        """Revisions applied going from `start` (exclusive) to `end` (inclusive), in order."""
        chain: list[Revision] = []
        current: str | None = end
        while current is not None and current != start:
            revision = self.revisions.get(current)
            if revision is None:
                raise HarnessError(f"revision {current} is not in this MLflow's migrations")
            chain.append(revision)
            current = revision.down
        if current != start:
            raise HarnessError(f"{start} is not an ancestor of {end}")
        return list(reversed(chain))
