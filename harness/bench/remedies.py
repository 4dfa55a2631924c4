"""The servers a catalogued cause's remedy is verified against: the new side's server command
with the remedy's arguments, over the same database and store.

Remedy servers start while the data is seeded: a cause with a remedy that fits the new
server's version and set-up (`expected_remedies`) will be verified if its operations regress,
so its server starts in the background during seeding, which is not timed, instead of after
the gate. `RemedyServers` hands out a started one (the one started early, else a new one) and
stops every one on exit, an unused one and a start still under way included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from types import TracebackType
from typing import Any

from harness.bench.diagnosis import Servers, load_causes
from harness.bench.tuning import TUNING
from harness.runtime.shield import InterruptSafePool
from harness.runtime.waiting import outcome
from harness.services.mlflow_server import MlflowServer

Key = tuple[str, ...]


def expected_remedies(version: str, setup: dict[str, Any], old_version: str = "",
                      old_setup: dict[str, Any] | None = None) -> list[Key]:
    """The remedy arguments of the catalogued causes that fit the new server's `version` and
    `setup` and not the old server's (a cause both share explains no difference): the servers
    `verify_remedies` may need, in catalogue order, each once."""
    servers = Servers(version, setup, old_version, old_setup)
    return list(dict.fromkeys(cause.remedy_args for cause in load_causes()
                              if cause.remedy_args and servers.explained_by(cause)))


def workers_args(workers: int | None) -> list[str]:
    return ["--workers", str(workers)] if workers else []


def override_args(base: list[str], override: list[str]) -> list[str]:
    """`base` without the options that `override` sets (with their values), then `override`:
    `(["--workers", "4", "--x"], ["--workers", "1"])` → `["--x", "--workers", "1"]`."""
    names = {token.split("=", 1)[0] for token in override if token.startswith("-")}
    kept: list[str] = []
    skip_value = False
    for token in base:
        if skip_value:
            skip_value = False
            if not token.startswith("-"):
                continue
        name = token.split("=", 1)[0]
        if token.startswith("-") and name in names:
            skip_value = "=" not in token
            continue
        kept.append(token)
    return kept + override


def remedy_server(current: MlflowServer, remedy_args: list[str], number: int) -> MlflowServer:
    """The `number`-th remedy server: `current`'s command with the remedy's arguments in
    place of its own."""
    return current.variant(
        f"{current.label}-remedy-{number}", workers=None, port=None,
        args=tuple(override_args([*workers_args(current.workers), *current.server_args],
                                 remedy_args)))


class RemedyServers:
    """Remedy servers, a context manager: on entry the `wanted` ones start in the background;
    `started` hands one out; on exit every one is stopped."""

    def __init__(self, build: Callable[[list[str], int], MlflowServer],
                 wanted: Iterable[Key] = (),
                 stop_wait_s: float = TUNING.remedy_stop_wait_s) -> None:
        self.build = build  # remedy arguments, the server's number → a server not started
        self.wanted = list(wanted)
        self.stop_wait_s = stop_wait_s
        self.servers: dict[Key, MlflowServer] = {}
        self.starts: dict[Key, Future[MlflowServer]] = {}
        self.pool: InterruptSafePool | None = None

    def __enter__(self) -> RemedyServers:
        if self.wanted:
            self.pool = InterruptSafePool(max_workers=len(self.wanted),
                                          thread_name_prefix="bench-remedy")
            for args in self.wanted:
                self.starts[args] = self.pool.submit(self._made(list(args)).start)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def started(self, remedy_args: list[str]) -> MlflowServer:
        """The remedy's server, started: the one started in the background, else a new one."""
        key = tuple(remedy_args)
        if key in self.starts:
            return outcome(self.starts.pop(key))
        return self._made(remedy_args).start()

    def _made(self, remedy_args: list[str]) -> MlflowServer:
        server = self.build(remedy_args, len(self.servers) + 1)
        self.servers[tuple(remedy_args)] = server
        return server

    def stop(self) -> None:
        """Stop every server; a start still under way sees its process gone and gives up
        (bounded), and a process it spawned after the first stop is stopped again."""
        for server in self.servers.values():
            server.stop()
        if self.pool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            wait_futures(list(self.starts.values()), timeout=self.stop_wait_s)
            for server in self.servers.values():
                server.stop()
