"""The two sides of the upgrade and the matrix's client versions, each checked at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.deploy.description import Deployment
from harness.envs.spec import MlflowSpec, parse_extra, parse_spec
from harness.errors import UsageError
from harness.runtime.ports import require_free

SIDES = ("from", "to")


@dataclass(frozen=True)
class SideConfig:
    """One side of the upgrade: `from` (old) or `to` (new)."""

    role: str
    spec: MlflowSpec
    extras: tuple[str, ...] = ()
    image: str | None = None  # run this side's server from a team's image, not its environment
    port: int | None = None  # a fixed 127.0.0.1 port for this side's server (default: free one)
    # Appended to this side's tracking server command (`mlflow server … ARGS`), checked: the
    # deployment's server options, then --server-arg's; `--server-workers N` is folded in here
    # as `--workers N`.
    server_args: tuple[str, ...] = ()
    # How the team runs this side's server (harness/deploy/): empty when not described.
    deployment: Deployment = field(default_factory=Deployment)

    @property
    def image_option(self) -> str:
        return f"--{self.role}-image"

    @property
    def server_arg_option(self) -> str:
        return f"--{self.role}-server-arg"

    @classmethod
    def from_values(cls, role: str, values: Mapping[str, Any]) -> SideConfig:
        raw = values[f"{role}_mlflow"]
        if not raw:
            raise UsageError(f"the {'old' if role == 'from' else 'new'} MLflow is missing: give "
                             f"--{role} SPEC (or mlflow = \"…\" in the config file's "
                             f"[tool.mlflow-upgrade-harness.{role}])")
        from harness.deploy.load import deployment_from

        spec = parse_spec(raw)
        deployment = deployment_from(f"--{role}-deployment", values.get(f"{role}_deployment"))
        image = _image(f"--{role}-image", values[f"{role}_image"]) or _image(
            f"{deployment.source} image", deployment.image)
        args = _server_args(f"--{role}-server-arg", values[f"{role}_server_arg"],
                            values["server_workers"], spec, deployment)
        return cls(role, spec, _extras(values[f"{role}_extra"]), image,
                   _port(f"--{role}-port", values[f"{role}_port"]), args, deployment)


@dataclass(frozen=True)
class ClientConfig:
    """A client version of the compatibility matrix: `from`, `to`, or an extra version with a
    client environment of its own (role `client1`, `client2`, …) and no server."""

    role: str
    spec: MlflowSpec


def sides_from(values: Mapping[str, Any]) -> tuple[SideConfig, SideConfig]:
    workers = values["server_workers"]
    if workers is not None and not 1 <= workers <= 16:
        raise UsageError("--server-workers must be between 1 and 16")
    old, new = (SideConfig.from_values(role, values) for role in SIDES)
    if old.port is not None and old.port == new.port:
        raise UsageError(f"--from-port and --to-port are both {old.port}: the two servers need "
                         "two ports")
    return old, new


def clients_from(raw: list[str], sides: tuple[SideConfig, SideConfig]
                 ) -> tuple[ClientConfig, ...]:
    """`--clients 2.9.2,3.17.2`: a version equal to a side's is that side's client."""
    found: list[ClientConfig] = []
    for item in (part.strip() for value in raw for part in value.split(",")):
        if not item:
            raise UsageError(f"--clients: empty version in {','.join(raw)!r}")
        spec = parse_spec(item)
        role = next((s.role for s in sides if s.spec.raw == spec.raw and not s.extras), None)
        if role is None:
            role = f"client{sum(1 for c in found if c.role not in SIDES) + 1}"
        if any(c.spec.raw == spec.raw for c in found):
            raise UsageError(f"--clients: {item!r} is listed twice")
        found.append(ClientConfig(role, spec))
    return tuple(found)


def _port(option: str, port: int | None) -> int | None:
    """A port the user asks for must be valid and free now (checked again when it is bound)."""
    if port is None:
        return None
    if not 1024 <= port <= 65535:
        raise UsageError(f"{option} {port}: choose a port between 1024 and 65535")
    return require_free(port, option)


def _server_args(option: str, raw: list[str], server_workers: int | None,
                 spec: MlflowSpec, deployment: Deployment) -> tuple[str, ...]:
    """A side's extra `mlflow server` arguments: its deployment's server options, then
    --server-arg's, split and checked; `--server-workers N` becomes `--workers N` in front of
    them (and contradicts a --workers of their own)."""
    from harness.services.server_args import (
        check_for_version,
        check_server_args,
        split_server_args,
        workers_in,
    )

    # The description's options are checked where it is read; together with --server-arg's
    # they must not contradict each other.
    args = check_server_args(option, (*deployment.server_options,
                                      *split_server_args(option, raw)))
    if server_workers is not None:
        if workers_in(args) is not None:
            raise UsageError(f"--server-workers {server_workers} and {option} with --workers "
                             f"{workers_in(args)} contradict each other: give one")
        args = ("--workers", str(server_workers), *args)
    check_for_version(option, args, spec.version)
    return args


def _image(option: str, raw: str | None) -> str | None:
    from harness.services.mlflow_command import check_image_name

    return None if raw is None else check_image_name(option, raw)


def _extras(raw: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for item in raw:
        found.extend(parse_extra(item))
    return tuple(found)
