"""Creates MLflow environments with uv, cached in folders named by a hash of their inputs.

A folder is complete only when its marker file exists; a folder without one is a half-built
environment from an interrupted run and is removed before building again. A file lock makes
two runs that want the same environment build it once.

Every module of an environment is compiled to bytecode once, when it is built (or first reused,
for folders built before): a run starts dozens of interpreters of it (server workers, clients,
migration tools), and without the `.pyc` files each one compiles MLflow, scikit-learn and pandas
from source again, or forever where PYTHONDONTWRITEBYTECODE is set (3.4.0: `import mlflow`
3.4 s → 1.2 s).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.envs.known import load_known
from harness.envs.spec import MlflowSpec
from harness.errors import EnvironmentBuildError
from harness.runtime.processes import run_to_completion

ENV_FORMAT = 1
MARKER = "harness-env.json"
BUILD_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class EnvRequest:
    """Everything that determines an environment's contents."""

    spec: MlflowSpec
    extras: tuple[str, ...] = ()
    python: str = field(default_factory=lambda: f"{sys.version_info[0]}.{sys.version_info[1]}")
    exclude_newer: str | None = None

    def requirements(self) -> list[str]:
        known = load_known()
        return [
            self.spec.requirement,
            *known.base_requirements,
            *known.pins_for(self.spec.version),
            *known.driver_requirements(self.spec.version),
            *self.extras,
        ]

    def digest(self) -> str:
        """Stable hash of all inputs; the environment's folder name."""
        payload = {
            "format": ENV_FORMAT,
            "python": self.python,
            "requirements": self.requirements(),
            "exclude_newer": self.exclude_newer,
        }
        if self.spec.kind.value == "wheel":
            payload["wheel_sha256"] = _file_sha256(Path(self.spec.requirement))
        encoded = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


@dataclass(frozen=True)
class MlflowEnv:
    """A built environment: its interpreter, what it holds and how long it took."""

    path: Path
    digest: str
    mlflow_version: str
    packages: dict[str, str]
    build_seconds: float
    reused: bool

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_UV_LOCK = threading.Lock()


def uv_binary() -> str:
    """The uv executable that ships with the harness's own dependencies.

    Found under a lock: uv's finder reads `sysconfig`, whose first use is not thread-safe
    (two environments built at once saw `get_config_var("EXE")` return None)."""
    with _UV_LOCK:
        return _find_uv()


@functools.cache
def _find_uv() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise EnvironmentBuildError("uv is not installed: pip install uv") from None
        return found


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_env(request: EnvRequest, cache_dir: Path, log_dir: Path) -> MlflowEnv:
    """Return the environment for `request`, building it if needed (idempotent)."""
    digest = request.digest()
    path = cache_dir / "envs" / digest
    with _locked(cache_dir / "envs" / f"{digest}.lock"):
        marker = path / MARKER
        if marker.is_file():
            record = _compile_once(path, marker,
                                   log_dir / f"env-{request.spec.label}-{digest}.log")
            return _env_of(path, digest, record, reused=True)
        if path.exists():
            shutil.rmtree(path)  # half-built by an interrupted run
        started = time.monotonic()
        try:
            _build(request, path, log_dir / f"env-{request.spec.label}-{digest}.log")
            packages = _freeze(path, log_dir)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        version = packages.get("mlflow") or packages.get("mlflow-skinny") or "unknown"
        missing = load_known().missing_driver(packages)
        if missing is not None:
            shutil.rmtree(path, ignore_errors=True)
            raise EnvironmentBuildError(f"mlflow {version} environment: {missing}")
        compiled = _compile_bytecode(path, log_dir / f"env-{request.spec.label}-{digest}.log")
        record = {
            "bytecode": compiled,
            "digest": digest,
            "requirements": request.requirements(),
            "exclude_newer": request.exclude_newer,
            "mlflow_version": version,
            "packages": packages,
            "build_seconds": round(time.monotonic() - started, 2),
        }
        _write_marker(marker, record)
        return _env_of(path, digest, record, reused=False)


def _compile_bytecode(path: Path, log_path: Path) -> bool:
    """`.pyc` for every module of the environment; False when compileall did not finish.

    Best effort: a file that does not compile (a package's Python 2 test data) makes compileall
    exit 1 and is only logged; the environment works either way, uncompiled modules compile on
    import (slower: this machine's PYTHONDONTWRITEBYTECODE keeps them from being written)."""
    code = run_to_completion("compile bytecode",
                             [str(path / "bin" / "python"), "-m", "compileall", "-q", "-j", "0",
                              str(path / "lib")], log_path, timeout=BUILD_TIMEOUT_S)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write(f"compileall {path.name}: "
                  + ("timed out, not compiled\n" if code < 0 else f"exit {code}\n"))
    return code >= 0


def _compile_once(path: Path, marker: Path, log_path: Path) -> dict[str, Any]:
    """The environment's marker record, compiling an environment built before environments
    were compiled (or whose compile timed out) and saying so in its marker (a read-only cache
    stays as it is)."""
    record: dict[str, Any] = json.loads(marker.read_text())
    if record.get("bytecode"):
        return record
    try:
        if _compile_bytecode(path, log_path):
            record = {**record, "bytecode": True}
            _write_marker(marker, record)
    except OSError:
        pass
    return record


def _write_marker(marker: Path, record: dict[str, Any]) -> None:
    """Replace the environment's marker at once (a reader sees the old one or the new)."""
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, marker)


def _env_of(path: Path, digest: str, record: dict[str, Any], reused: bool) -> MlflowEnv:
    return MlflowEnv(
        path=path,
        digest=digest,
        mlflow_version=record["mlflow_version"],
        packages=record["packages"],
        build_seconds=0.0 if reused else float(record["build_seconds"]),
        reused=reused,
    )


def _build(request: EnvRequest, path: Path, log_path: Path) -> None:
    uv = uv_binary()
    _uv(["venv", "--quiet", "--python", request.python, str(path)], uv, log_path, "create venv")
    install = ["pip", "install", "--python", str(path / "bin" / "python")]
    if request.exclude_newer:
        install += ["--exclude-newer", request.exclude_newer]
    _uv(install + request.requirements(), uv, log_path, f"install {request.spec.raw}")


def _uv(args: Sequence[str], uv: str, log_path: Path, what: str) -> None:
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    code = run_to_completion(
        f"uv {what}", [uv, *args], log_path, timeout=BUILD_TIMEOUT_S, env=env
    )
    if code != 0:
        raise EnvironmentBuildError(_explain_uv_failure(what, log_path, code))


def _explain_uv_failure(what: str, log_path: Path, code: int) -> str:
    if code == -1:
        return f"uv timed out after {BUILD_TIMEOUT_S:.0f}s: {what} (log: {log_path})"
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = next(
        (line for line in lines if "no version" in line.lower() or "not found" in line.lower()),
        lines[-1] if lines else "no output",
    )
    reason = reason.removeprefix("×").strip().lstrip("╰─▶ ").strip()
    reason = reason.removeprefix("cause:").strip()
    missing = _NO_SUCH_MLFLOW.search(reason)
    if missing:
        return (f"mlflow {missing.group(1)} is not on the package index (unknown or unreleased "
                f"version?): uv could not {what} (log: {log_path})")
    return f"uv could not {what}: {reason} (log: {log_path})"


_NO_SUCH_MLFLOW = re.compile(r"there is no version of mlflow(?:\[[^\]]*\])?==([^\s,]+)",
                             re.IGNORECASE)


def _freeze(path: Path, log_dir: Path) -> dict[str, str]:
    out = log_dir / f"freeze-{path.name}.txt"
    uv = uv_binary()
    code = run_to_completion(
        "uv pip freeze",
        [uv, "pip", "freeze", "--python", str(path / "bin" / "python")],
        out,
        timeout=60,
    )
    if code != 0:
        raise EnvironmentBuildError(f"uv could not list packages of {path} (log: {out})")
    packages: dict[str, str] = {}
    for line in out.read_text().splitlines():
        if "==" in line:
            name, _, version = line.partition("==")
            packages[name.strip().lower()] = version.strip()
    return packages
