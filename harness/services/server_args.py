"""`mlflow server` arguments a team deploys with (`--from-server-arg`, `--to-server-arg`).

Checked once at the edge: each value is split like a shell would split it, options the harness
sets itself (stores, artifact serving, host, port, app) are refused with the reason, and so are
modes that are not a tracking-server deployment. What is left is appended to that side's
`mlflow server …` command as given. `server_setup` says which server program that runs and with
how many workers, from the MLflow version and the arguments (see `known.toml`, `[server]`).

Options are read the way MLflow's click parser reads them: `--name value`, `--name=value`,
`-w value`, `-wVALUE`; an option that takes a value takes the next token whatever it looks like
(`--gunicorn-opts "-t 120"`). Options this module does not know (a newer MLflow's) pass through
untouched: MLflow itself refuses what it does not know, in the server's log.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from harness.errors import UsageError

# Options the harness sets on every tracking server it starts, and why.
OWNED = {
    "--backend-store-uri": "each side's database is created by the harness",
    "--registry-store-uri": "the registry lives in each side's own database",
    "--default-artifact-root": "artifacts are served by the server into the run's S3 bucket",
    "--artifacts-destination": "artifacts go to the run's own S3 prefix",
    "--serve-artifacts": "the scenarios need proxied artifact serving",
    "--no-serve-artifacts": "the scenarios need proxied artifact serving",
    "--host": "servers listen on 127.0.0.1",
    "-h": "servers listen on 127.0.0.1",
    "--port": "the port is chosen by the harness (fix it with --from-port/--to-port)",
    "-p": "the port is chosen by the harness (fix it with --from-port/--to-port)",
    "--app-name": "the basic_auth scenario starts MLflow's basic-auth app itself",
    "--read-replica-backend-store-uri": "each side's database is created by the harness",
    "--workspace-store-uri": "each side's database is created by the harness",
}
# Options that make the server something other than a deployed tracking server.
NOT_A_DEPLOYMENT = {
    "--artifacts-only": "an artifacts-only server is not a tracking server",
    "--dev": "development mode (auto-reload, debug logging) is not a deployment",
    "--waitress-opts": "waitress is MLflow's Windows server; the harness runs on Linux",
    "--help": "it prints help instead of starting a server",
}
# Options of `mlflow server` (2.9.2 … 3.17.2) that take a value.
TAKES_VALUE = frozenset({
    "--backend-store-uri", "--registry-store-uri", "--default-artifact-root",
    "--artifacts-destination", "--host", "-h", "--port", "-p", "--workers", "-w",
    "--static-prefix", "--gunicorn-opts", "--waitress-opts", "--uvicorn-opts",
    "--expose-prometheus", "--app-name",
    # 3.5 and later
    "--allowed-hosts", "--cors-allowed-origins", "--x-frame-options",
    "--read-replica-backend-store-uri", "--trace-archival-config", "--secrets-cache-ttl",
    "--secrets-cache-max-size", "--workspace-store-uri",
})
WORKERS = frozenset({"--workers", "-w"})
_SHORT = frozenset(name for name in TAKES_VALUE if not name.startswith("--"))
_COUNT = re.compile(r"^0*[1-9][0-9]*$")


@dataclass(frozen=True)
class ServerOption:
    name: str  # `--workers`, `-w`
    value: str | None  # None for a flag
    text: str  # as given, for messages: `--workers 4`, `-w4`


def split_server_args(option: str, values: Iterable[str]) -> tuple[str, ...]:
    """Every value of `--from-server-arg`/`--to-server-arg`, split like a shell, then checked.
    `option` names the CLI option in messages."""
    found: list[str] = []
    for value in values:
        try:
            found.extend(shlex.split(value))
        except ValueError as error:
            raise UsageError(f"{option} {value!r}: cannot split it into arguments "
                             f"({str(error).lower()}): check the quotes") from None
    return check_server_args(option, found)


def check_server_args(option: str, args: Sequence[str]) -> tuple[str, ...]:
    """`args` as a tuple; refuses options the harness owns, non-deployment modes, a workers
    count given twice or not a positive whole number, and an option missing its value."""
    workers: list[ServerOption] = []
    for found in server_options(option, args):
        if found.name in OWNED:
            raise UsageError(f"{option} {found.text!r}: the harness sets {found.name} itself "
                             f"({OWNED[found.name]})")
        if found.name in NOT_A_DEPLOYMENT:
            raise UsageError(f"{option} {found.text!r}: not supported "
                             f"({NOT_A_DEPLOYMENT[found.name]})")
        if found.name in WORKERS:
            workers.append(found)
            if not _COUNT.match(found.value or ""):
                raise UsageError(f"{option} {found.text!r}: the number of workers must be a "
                                 "whole number of at least 1")
    if len(workers) > 1:
        raise UsageError(f"{option}: {workers[0].text!r} and {workers[1].text!r} contradict "
                         "each other: give the number of workers once")
    return tuple(args)


def server_options(option: str, args: Sequence[str]) -> list[ServerOption]:
    """The options in `args` with their values, as MLflow's parser would read them."""
    found: list[ServerOption] = []
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            break  # what follows is positional: MLflow refuses it itself
        if token.startswith("--"):
            name, equals, attached = token.partition("=")
            if name not in TAKES_VALUE:
                found.append(ServerOption(name, attached if equals else None, token))
                continue
            if equals:
                found.append(ServerOption(name, attached, token))
                continue
        elif token.startswith("-") and len(token) > 1:
            name, attached = token[:2], token[2:]
            if name not in _SHORT:
                found.append(ServerOption(token, None, token))
                continue
            if attached:
                found.append(ServerOption(name, attached, token))
                continue
        else:
            continue  # a value of an option this module does not know, or a stray word
        if index >= len(args):
            raise UsageError(f"{option} {token!r}: {name} needs a value")
        found.append(ServerOption(name, args[index], f"{token} {args[index]}"))
        index += 1
    return found


def workers_in(args: Sequence[str]) -> int | None:
    """The `--workers`/`-w` count in checked arguments; None when they give none."""
    for found in server_options("server argument", args):
        if found.name in WORKERS and found.value is not None:
            return int(found.value)
    return None


def static_prefix(args: Sequence[str], env: Mapping[str, str]) -> str:
    """The `--static-prefix` the arguments give (or MLFLOW_STATIC_PREFIX), "" when none."""
    for found in server_options("server argument", args):
        if found.name == "--static-prefix" and found.value:
            return found.value.rstrip("/")
    return env.get("MLFLOW_STATIC_PREFIX", "").rstrip("/")


# Added to an allow-list of Host headers a deployment gives (`--allowed-hosts`, 3.5+), so that
# the harness's own requests by 127.0.0.1 (benchmark, health, helpers) pass; requests for the
# public URL are judged by the list as given.
LOOPBACK_HOSTS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*")
ALLOWED_HOSTS_ENV = "MLFLOW_SERVER_ALLOWED_HOSTS"


def loopback_allowed(hosts: str) -> str:
    """`mlflow.example.com` → `mlflow.example.com,127.0.0.1,127.0.0.1:*,localhost,localhost:*`
    (unchanged when it allows every host)."""
    listed = [host.strip() for host in hosts.split(",") if host.strip()]
    if "*" in listed:
        return hosts
    return ",".join([*listed, *(h for h in LOOPBACK_HOSTS if h not in listed)])


def with_loopback_allowed(args: Sequence[str]) -> tuple[str, ...]:
    """`args` with LOOPBACK_HOSTS added to the value of an `--allowed-hosts` they give."""
    found: list[str] = []
    taking = False
    for token in args:
        if taking:
            found.append(loopback_allowed(token))
            taking = False
        elif token.startswith("--allowed-hosts="):
            found.append("--allowed-hosts=" + loopback_allowed(token.partition("=")[2]))
        else:
            taking = token == "--allowed-hosts"
            found.append(token)
    return tuple(found)


def uses_option(args: Sequence[str], name: str) -> bool:
    return any(found.name == name for found in server_options("server argument", args))


def server_setup(mlflow_version: str, args: Sequence[str]) -> dict[str, Any]:
    """Which server program `mlflow server ARGS` of `mlflow_version` runs, and how many
    workers: `{"sgi": "gunicorn"|"uvicorn", "workers": N, "workers_from": "mlflow default"|
    "argument"}`. Empty when the version cannot be read."""
    from harness.envs.known import load_known

    try:
        version = Version(mlflow_version)
    except InvalidVersion:
        return {}
    known = load_known().server
    uvicorn = version >= known.uvicorn_default_from and not uses_option(args, "--gunicorn-opts")
    workers = workers_in(args)
    return {
        "sgi": "uvicorn" if uvicorn else "gunicorn",
        "workers": known.default_workers if workers is None else workers,
        "workers_from": "mlflow default" if workers is None else "argument",
    }


def check_for_version(option: str, args: Sequence[str], version: Version | None) -> None:
    """Options the given MLflow version does not have, refused before anything starts (when
    the version is known up front)."""
    from harness.envs.known import load_known

    if version is None or not uses_option(args, "--uvicorn-opts"):
        return
    since = load_known().server.uvicorn_default_from
    if version < since:
        raise UsageError(f"{option} --uvicorn-opts: mlflow {version} serves with gunicorn and "
                         f"has no --uvicorn-opts (uvicorn is the default from {since}): use "
                         "--gunicorn-opts")
