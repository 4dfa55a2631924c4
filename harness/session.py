"""Provisioning for one run: environments, one PostgreSQL, one S3, a server and a client per side.

Independent things start in parallel (both environments, PostgreSQL and S3; then both servers
and both clients). Everything is torn down in reverse order, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from harness.agent.client import Agent
from harness.bench.inject import delays_file
from harness.bench.inject import server_env as injection_server_env
from harness.config import ClientConfig, Provider, RunConfig, SideConfig
from harness.deploy.health import ServerMonitor
from harness.deploy.routes import Route, start_route
from harness.envs.builder import EnvRequest, MlflowEnv, ensure_env
from harness.envs.known import load_known
from harness.errors import UsageError
from harness.progress import Progress
from harness.providers import docker_available, make_postgres, make_s3, resolve_provider
from harness.runtime.processes import REGISTRY, sweep_run_processes
from harness.runtime.shield import InterruptSafePool, interrupts_deferred
from harness.runtime.waiting import outcome
from harness.scale.store import ScaleStore, StoreSide
from harness.services.base import PostgresService, S3Service
from harness.services.mlflow_command import (
    MlflowCommand,
    image_mlflow_version,
    require_docker_cli,
)
from harness.services.mlflow_server import MlflowServer, ServerSpec

T = TypeVar("T")
RUN_DIR_PREFIX = "mlflow-upgrade-harness-run-"


class _Runtime:
    """A role's MLflow version: a side, or an extra client of the matrix."""

    config: SideConfig | ClientConfig
    env: MlflowEnv

    @property
    def role(self) -> str:
        return self.config.role

    @property
    def version(self) -> str:
        return self.env.mlflow_version


@dataclass
class SideRuntime(_Runtime):
    """Everything one side of the upgrade has while scenarios run."""

    config: SideConfig
    env: MlflowEnv
    server: MlflowServer
    client: Agent
    database: str
    route: Route | None = None  # how clients reach the server (harness/deploy/routes.py)
    monitor: ServerMonitor | None = None  # the server's health under the run

    @property
    def command(self) -> MlflowCommand:
        """How this side runs server-side `mlflow` commands: its environment or its image."""
        return self.server.command

    @property
    def tracking_uri(self) -> str:
        """What clients use: the public URL's stand-in on 127.0.0.1, else the server's own."""
        return self.route.tracking_uri if self.route is not None else self.server.url


@dataclass
class ClientRuntime(_Runtime):
    """An extra client version of the compatibility matrix: an environment and a client."""

    config: ClientConfig
    env: MlflowEnv
    client: Agent


@dataclass
class RunSession:
    config: RunConfig
    progress: Progress
    provider: Provider | None = None
    workdir: Path | None = None
    postgres: PostgresService | None = None
    s3: S3Service | None = None
    envs: dict[str, MlflowEnv] = field(default_factory=dict)
    sides: dict[str, SideRuntime] = field(default_factory=dict)
    extra_clients: dict[str, ClientRuntime] = field(default_factory=dict)
    store: ScaleStore | None = None  # --scale medium|large: the sides' databases are its copies
    _stack: ExitStack = field(default_factory=ExitStack)

    @property
    def log_dir(self) -> Path:
        return self.config.out_dir / "logs"

    def __enter__(self) -> Self:
        REGISTRY.reset()
        REGISTRY.run_id = self.config.run_id
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(unwinding=exc is not None)

    def close(self, unwinding: bool = False) -> None:
        """Stop everything this session started; idempotent. A Ctrl-C or SIGTERM meanwhile
        does not cut it short (`interrupts_deferred`): it is raised once all is stopped,
        unless an exception (`unwinding`, e.g. the first Ctrl-C) is already on its way."""
        with interrupts_deferred(self.progress.urgent, raise_after=not unwinding), \
                self.progress.phase("teardown"):
            try:
                self._stack.close()
            finally:
                REGISTRY.stop_everything()
                sweep_run_processes(self.config.run_id)  # what a killed lane left, if anything
                if self.workdir is not None:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                    self.workdir = None
                sweep_run_folders(self.config.run_id)

    def health_problem(self, roles: Iterable[str] | None = None) -> str | None:
        """Why the run cannot serve more work: PostgreSQL, S3 or a server (of `roles`, default
        every side) down; None when all answer."""
        from harness.watchdog import infrastructure_problem, server_problem

        problem = infrastructure_problem((("PostgreSQL", self.postgres), ("S3", self.s3)))
        for role in self.sides if roles is None else roles:
            problem = problem or server_problem(self.sides[role].server)
        return problem

    def client(self, role: str) -> SideRuntime | ClientRuntime:
        """A client role of the matrix: a side (its own client) or an extra client."""
        return self.sides[role] if role in self.sides else self.extra_clients[role]

    def provision(self) -> None:
        """Build environments and start services; raises HarnessError with logs on failure."""
        config = self.config
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{config.run_id}-"))
        with self.progress.phase("choose provider"):
            self.provider = resolve_provider(config.services.provider, docker_available)
        self.progress.say(f"provider: {self.provider.value}")
        imaged = [side for side in config.sides if side.image]
        for side in imaged:
            require_docker_cli(side.image_option)
        if self.provider is Provider.DOCKER or imaged:
            from harness.services.docker_engine import sweep_stale_containers

            with self.progress.phase("sweep containers of killed runs"):
                swept = sweep_stale_containers(config.run_id)
            if swept:
                self.progress.say(f"removed {swept} container(s) left by killed runs")
        with InterruptSafePool(max_workers=6, thread_name_prefix="provision") as pool:
            # Interrupted anywhere in here (not only while waiting on a future): cancel the
            # workers before the pool's exit waits for them (an env build, a paused phase).
            try:
                env_futures = {
                    side.role: pool.submit(self._build_env, side) for side in config.sides
                }
                client_futures = {
                    extra.role: pool.submit(self._build_env, SideConfig(extra.role, extra.spec))
                    for extra in config.extra_clients
                }
                image_futures = {
                    side.role: pool.submit(image_mlflow_version, side.image_option, side.image)
                    for side in imaged if side.image  # (narrows the type)
                }
                pg_future = pool.submit(self._start_service, "PostgreSQL", self._make_postgres)
                s3_future = pool.submit(self._start_service, "S3", self._make_s3)
                self.postgres = _result(pg_future)
                self.s3 = _result(s3_future)
                self.envs = {role: _result(f) for role, f in env_futures.items()}
                for side in imaged:
                    _check_image_version(side, _result(image_futures[side.role]),
                                         self.envs[side.role])
                self._prepare_store()
                side_futures = {
                    side.role: pool.submit(self._start_side, side) for side in config.sides
                }
                extra_futures = {
                    extra.role: pool.submit(self._start_client, extra, _result(client_futures[
                        extra.role])) for extra in config.extra_clients
                }
                self.sides = {role: _result(f) for role, f in side_futures.items()}
                self.extra_clients = {role: _result(f) for role, f in extra_futures.items()}
            except BaseException:
                REGISTRY.stop_everything()
                raise

    def _make_postgres(self) -> PostgresService:
        assert self.provider is not None and self.workdir is not None
        return make_postgres(self.provider, self.config, self.workdir)

    def _make_s3(self) -> S3Service:
        assert self.provider is not None and self.workdir is not None
        return make_s3(self.provider, self.config, self.workdir)

    def _start_service(self, what: str, factory: Callable[[], T]) -> T:
        service: Any = factory()
        with self.progress.phase(f"start {what} ({type(service).__name__})"):
            self._stack.callback(service.stop)
            service.start()
        return service  # type: ignore[no-any-return]

    def _build_env(self, side: SideConfig) -> MlflowEnv:
        exclude_newer = self.config.environments.exclude_newer
        if self.config.environments.as_of_release:
            exclude_newer = load_known().exclude_newer(side.spec.version)
        request = EnvRequest(side.spec, side.extras, exclude_newer=exclude_newer)
        with self.progress.phase(f"environment {side.role} = {side.spec.label}"):
            env = ensure_env(request, self.config.cache_dir, self.log_dir)
        how = "reused" if env.reused else f"built in {env.build_seconds:.1f}s"
        self.progress.say(f"environment {side.role}: mlflow {env.mlflow_version} ({how})")
        return env

    def _start_side(self, side: SideConfig) -> SideRuntime:
        assert self.postgres is not None and self.s3 is not None
        env = self.envs[side.role]
        database = f"muh_{self.config.run_id}_{side.role}"
        backend = self.store.side_dsn(side.role) if self.store \
            else self.postgres.create_database(database)
        server = MlflowServer(
            f"{side.role}-{env.mlflow_version}", MlflowCommand(env.bin, side.image),
            ServerSpec(backend, self.s3.location, f"{side.role}-artifacts", port=side.port,
                       # the deployment's environment, its secrets read now
                       env={**side.deployment.server_env(), **self._injection_env(side.role)},
                       args=side.server_args),  # --server-workers is folded in as --workers
            self.log_dir)
        client = Agent(
            name=f"{side.role}-{env.mlflow_version}",
            python=env.python,
            log_path=self.log_dir / f"client-{side.role}-{env.mlflow_version}.log",
        )
        self._stack.callback(client.stop)
        self._stack.callback(server.stop)
        what = f"start mlflow {env.mlflow_version} server + client ({side.role})"
        with self.progress.phase(what):
            with InterruptSafePool(max_workers=1) as pool:
                client_started = pool.submit(client.start)
                server.start()
                _result(client_started)
            route = start_route(side.deployment, server, self.log_dir, self._stack)
        monitor = ServerMonitor(server).start()
        self._stack.callback(monitor.stop)
        return SideRuntime(side, env, server, client, database, route, monitor)

    def _prepare_store(self) -> None:
        """With --scale medium|large: the store, seeded through the old version's schema, and
        the sides' databases as its copies (the new side's upgraded)."""
        size = self.config.scenarios.scale
        if size is None:
            return
        assert self.postgres is not None and self.s3 is not None
        sides = {side.role: StoreSide(MlflowCommand(self.envs[side.role].bin, side.image),
                                      self.envs[side.role].mlflow_version)
                 for side in self.config.sides}
        self.store = ScaleStore(self.postgres, self.s3.location, size, self.config.run_id,
                                self.log_dir)
        with self.progress.phase(f"seed the store ({size.profile}: {size.runs:,} runs, "
                                 f"{size.metrics:,} metric rows)"):
            self.store.prepare(sides["from"], sides["to"])

    def _injection_env(self, role: str) -> dict[str, str]:
        """With --inject-latency, both servers load the latency hook (idle on the old side),
        so the benchmark can delay the new server's routes without a proxy in between."""
        if not self.config.bench.inject:
            return {}
        return injection_server_env(delays_file(self.log_dir, role))

    def _start_client(self, extra: ClientConfig, env: MlflowEnv) -> ClientRuntime:
        client = Agent(
            name=f"{extra.role}-{env.mlflow_version}",
            python=env.python,
            log_path=self.log_dir / f"client-{extra.role}-{env.mlflow_version}.log",
        )
        self._stack.callback(client.stop)
        with self.progress.phase(f"start mlflow {env.mlflow_version} client ({extra.role})"):
            client.start()
        return ClientRuntime(extra, env, client)


def _check_image_version(side: SideConfig, found: str, env: MlflowEnv) -> None:
    """A side's image must hold the MLflow its clients and the diff are built for."""
    if found != env.mlflow_version:
        raise UsageError(
            f"{side.image_option} {side.image} has mlflow {found}, but --{side.role} is "
            f"{side.spec.raw} (mlflow {env.mlflow_version}): give the image's version"
        )


def sweep_run_folders(run_id: str) -> list[str]:
    """Remove what is left of this run's temporary folders (named `mlflow-upgrade-harness-
    <what>-<run id>-…`): the last net, for a folder whose owner was killed before its own
    cleanup (an agent's upload files). Returns the folders removed."""
    found = glob.glob(os.path.join(tempfile.gettempdir(), f"mlflow-upgrade-harness-*-{run_id}-*"))
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    return found


def _result(future: Future[T]) -> T:
    """Wait for a future; stop everything first if the wait is interrupted."""
    try:
        return outcome(future)
    except BaseException:
        REGISTRY.stop_everything()
        raise
