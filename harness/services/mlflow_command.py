"""How a side runs the `mlflow` command: from its uv environment, or from a team's image.

With an image (`--from-image` / `--to-image`), every server-side `mlflow` command of that side
(the tracking server, the migration drill's servers, `mlflow db upgrade`, the basic-auth app)
runs in a container of that image through the `docker` CLI, in the foreground, so it is one
managed process like any other: its output goes to the same log file, and stopping it stops
the container (the CLI forwards SIGTERM; `--rm` removes it). The container shares the host's
network, so it reaches PostgreSQL and S3 on 127.0.0.1 and listens on 127.0.0.1 exactly as a
local server does, whatever the provider. Every container carries the run's labels, and a
cleanup that force-removes it by name is registered before it starts, so a SIGKILLed CLI or an
interrupted run leaves nothing; containers of killed runs are swept by the next run.

Clients always run in the side's own uv environment: the image is the server under test.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ProviderUnavailable, ServiceError, UsageError
from harness.runtime.processes import REGISTRY

# A secret argument (a DSN with a password) reaches `python -m MODULE` through this variable:
# `SECRET` stands for it in the arguments, so it is on no process's command line.
SECRET_ENV = "MLFLOW_UPGRADE_HARNESS_SECRET_ARG"
SECRET = "{secret}"
_RUN_MODULE = (
    "import os, runpy, sys; module = sys.argv[1]; "
    f"secret = os.environ.pop({SECRET_ENV!r}, ''); "
    f"sys.argv = [module] + [secret if a == {SECRET!r} else a for a in sys.argv[2:]]; "
    "runpy.run_module(module, run_name='__main__', alter_sys=True)"
)
# In an image: the Python beside its `mlflow` command.
_IMAGE_PYTHON = ('bin=$(dirname "$(command -v mlflow)"); py="$bin/python"; '
                 '[ -x "$py" ] || py="$bin/python3"; [ -x "$py" ] || py=python3; '
                 'exec "$py" -c "$0" "$@"')
DOCKER_CLI_TIMEOUT_S = 30.0
VERSION_PROBE_TIMEOUT_S = 180.0
_IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
_VERSION_LINE = re.compile(r"version\s+(\S+)")


def check_image_name(option: str, image: str) -> str:
    """A Docker image reference, checked for shape only (the engine checks the rest)."""
    if not _IMAGE_NAME.match(image):
        raise UsageError(f"{option}: {image!r} is not a Docker image reference")
    return image


@dataclass(frozen=True)
class MlflowCommand:
    """The `mlflow` command of one side: `env_bin/mlflow`, or `mlflow` inside `image`."""

    env_bin: Path
    image: str | None = None

    @property
    def in_container(self) -> bool:
        return self.image is not None

    def argv(
        self,
        args: Sequence[str],
        *,
        container: str = "",
        env_names: Iterable[str] = (),
        mounts: Iterable[Path] = (),
    ) -> list[str]:
        """The command line for `mlflow ARGS`. For an image: `docker run` of a container named
        `container`, given the named variables from the CLI's environment (values never appear
        on a command line) and the files or folders in `mounts`, read-only at the same path."""
        if self.image is None:
            return [str(self.env_bin / "mlflow"), *args]
        if not container:
            raise ValueError("a containerised mlflow command needs a container name")
        argv = ["docker", "run", "--rm", "--name", container, "--network", "host",
                "--entrypoint", "mlflow"]
        for key, value in container_labels(container).items():
            argv += ["--label", f"{key}={value}"]
        for name in sorted(set(env_names)):
            argv += ["--env", name]
        for path in sorted({str(p) for p in mounts}):
            argv += ["--volume", f"{path}:{path}:ro"]
        return [*argv, self.image, *args]

    def module_argv(self, module: str, args: Sequence[str], *, container: str = "") -> list[str]:
        """`python -m MODULE ARGS` of this side (its environment's Python, or the one beside
        `mlflow` in its image), with `SECRET` in `args` read from SECRET_ENV: give the secret in
        the environment of the process that runs this."""
        if self.image is None:
            return [str(self.env_bin / "python"), "-c", _RUN_MODULE, module, *args]
        if not container:
            raise ValueError("a containerised mlflow command needs a container name")
        argv = self.argv([], container=container, env_names=[SECRET_ENV])
        image = argv.index(self.image)
        argv[argv.index("--entrypoint") + 1] = "sh"
        return [*argv[:image + 1], "-c", _IMAGE_PYTHON, _RUN_MODULE, module, *args]

    def new_container(self, what: str) -> str:
        """A unique container name for `what`, with its removal registered for teardown.
        Empty when this side runs from its environment."""
        if self.image is None:
            return ""
        name = f"muh-{REGISTRY.run_id}-{re.sub(r'[^a-z0-9.-]+', '-', what.lower())}-" \
               f"{uuid.uuid4().hex[:6]}"
        REGISTRY.add_cleanup(f"docker container {name}", _Removal(name))
        return name

    def forget_container(self, name: str) -> None:
        """Remove the container `name` now (it normally removed itself) and its cleanup."""
        if not name:
            return
        _Removal(name)()
        REGISTRY.remove_cleanup_named(f"docker container {name}")


def container_labels(container: str) -> dict[str, str]:
    """The same labels as the docker provider's containers: found per run, swept when orphaned."""
    from harness.services.docker_engine import SERVICE_LABEL, run_labels

    labels = run_labels(REGISTRY.run_id, container)
    labels[SERVICE_LABEL] = container
    return labels


@dataclass(frozen=True)
class _Removal:
    name: str

    def __call__(self) -> None:
        try:
            subprocess.run(["docker", "rm", "--force", "--volumes", self.name],
                           capture_output=True, timeout=DOCKER_CLI_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass


def require_docker_cli(option: str) -> None:
    """One line unless the `docker` CLI is installed and its engine answers."""
    try:
        done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=DOCKER_CLI_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        raise ProviderUnavailable(f"{option} needs the docker CLI, which is not installed"
                                  ) from None
    except subprocess.TimeoutExpired:
        raise ProviderUnavailable(f"{option}: the Docker engine did not answer within "
                                  f"{DOCKER_CLI_TIMEOUT_S:g}s") from None
    if done.returncode != 0 or not done.stdout.strip():
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise ProviderUnavailable(f"{option}: no Docker engine answers ({reason})")


def image_mlflow_version(option: str, image: str, env: Mapping[str, str] | None = None) -> str:
    """The MLflow version inside `image` (`mlflow --version` in a throwaway container)."""
    argv = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "mlflow", image,
            "--version"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=VERSION_PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ServiceError(f"{option} {image}: `mlflow --version` did not answer within "
                           f"{VERSION_PROBE_TIMEOUT_S:g}s") from None
    text = f"{done.stdout}\n{done.stderr}"
    found = _VERSION_LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "no such image" in text.lower() or "unable to find image" in text.lower():
            raise UsageError(f"{option}: image {image!r} is not on this engine and cannot be "
                             "pulled: build or load it first")
        raise UsageError(f"{option}: image {image!r} has no working `mlflow` command ({last})")
    return found.group(1)
