"""The store of `--scale medium|large|counts`: seeded once, used by everything.

1. `muh_<run>_store`: the old version's server starts on an empty database and creates its
   schema, the store is seeded into it in bulk (`bulk.py`), and samples are read back through
   that server's REST API against the rows (`samples.py`, `rows.py`): what the old version
   serves must be what was seeded. The server stops; nothing connects to the store again.
2. Copies (`CREATE DATABASE … TEMPLATE`): the old side's database as it is, the new side's
   upgraded with the new version's `mlflow db upgrade` (timed per revision) before its server
   starts (a 3.x server would migrate an old database silently; the store is its snapshot),
   and, when the migration drill starts, the drill's own.

So the scenarios, the benchmark (its operations at scale, `bench_context`) and the drill all
run on a store of that size, on both versions, and the new side's is a migrated copy of the
old side's: the same ids on both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.migration.upgrade import upgrade
from harness.scale.bulk import seed
from harness.scale.fills import LONG_KEY, LONG_RUN, PREFIX, WIDE_RUN
from harness.scale.profile import StoreSize, describe
from harness.scale.rows import read_rows
from harness.scale.samples import Targets, differences, read_rest, run_id
from harness.services.base import PostgresService, S3Location
from harness.services.mlflow_command import MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec

ROLES = ("from", "to")


class StoreMismatch(HarnessError):
    """The old server does not serve what the bulk seed wrote."""


@dataclass(frozen=True)
class StoreSide:
    """What preparing the store needs of a side: how it runs `mlflow`, and its version."""

    command: MlflowCommand
    version: str


@dataclass
class ScaleStore:
    postgres: PostgresService
    s3: S3Location
    size: StoreSize
    run_id: str
    log_dir: Path
    targets: Targets | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    base_experiment: int = 0

    @property
    def database(self) -> str:
        return f"muh_{self.run_id}_store"

    def side_database(self, role: str) -> str:
        """The side's database (the names the session gives them)."""
        return f"muh_{self.run_id}_{role}"

    def prepare(self, old: StoreSide, new: StoreSide) -> None:
        """Seed, verify, copy for both sides and upgrade the new side's copy."""
        began = time.monotonic()
        self.postgres.create_database(self.database)
        server = MlflowServer("store-old", old.command,  # creates the old schema at start-up
                              ServerSpec(self.postgres.dsn(self.database), self.s3,
                                         "store-artifacts", workers=1), self.log_dir)
        with server:
            schema_s = time.monotonic() - began
            seeded = seed(self.postgres.server, self.database, self.size, old.version)
            self.base_experiment = seeded.base_experiment
            self.targets = Targets.of(self.size, seeded.base_experiment)
            checked = time.monotonic()
            self._verify(server.url)
            verify_s = time.monotonic() - checked
        self.facts = {"size": self.size.to_dict(), "described": describe(self.size),
                      "old_version": old.version, "schema_seconds": round(schema_s, 1),
                      "seed": seeded.to_dict(), "verify_seconds": round(verify_s, 1),
                      "samples": self.targets.to_dict(), "bytes": self._bytes()}
        self._copies(new)
        self.facts["seconds"] = round(time.monotonic() - began, 1)

    def _verify(self, url: str) -> None:
        assert self.targets is not None
        expected = read_rows(self.postgres.server, self.database, self.targets)
        found = differences(expected, read_rest(url, self.targets))
        if found:
            raise StoreMismatch(f"the old server does not serve what the bulk seed wrote: "
                                f"{found[0]} (and {len(found) - 1} more)" if len(found) > 1
                                else f"the old server does not serve what the bulk seed "
                                f"wrote: {found[0]}")

    def _bytes(self) -> int:
        with self.postgres.server.connect() as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.database,)).fetchone()
        return int(str(row[0])) if row else 0

    def _copies(self, new: StoreSide) -> None:
        copied = time.monotonic()
        for role in ROLES:
            self.postgres.create_database(self.side_database(role), template=self.database)
        self.facts["copy_seconds"] = round((time.monotonic() - copied) / len(ROLES), 1)
        timed = upgrade(new.command, self.postgres.server, self.side_database("to"),
                        self.log_dir / "store-db-upgrade.log")
        self.facts["new_side_upgrade"] = {"version": new.version, **timed.to_dict()}

    def side_dsn(self, role: str) -> str:
        return self.postgres.dsn(self.side_database(role))

    def bench_context(self) -> dict[str, Any]:
        """What the benchmark's operations at scale work on (the same ids on both sides)."""
        return {"store_experiment": str(self.base_experiment + 1),
                "store_runs": self.size.big_experiment_runs,
                "store_long_run": run_id(LONG_RUN), "store_long_key": LONG_KEY,
                "store_history": self.size.history,
                "store_wide_run": run_id(WIDE_RUN), "store_wide": self.size.wide,
                "store_models": f"{PREFIX}-model-0%"}
