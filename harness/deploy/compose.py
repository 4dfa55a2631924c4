"""A service of the team's docker-compose file as a deployment: its image, the options of its
`mlflow server` command and its environment.

What the harness sets itself (stores, artifact root, host, port, S3 credentials) is left out
and listed, not refused: the file is the team's real deployment, the harness replaces those
parts with the run's own. `${NAME}` (and `$NAME`, `${NAME:-default}`) are filled in as compose
does, from your environment, then from the `.env` file beside the compose file; a variable
that is set nowhere leaves its setting out, listed too.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.deploy.description import OWNED_ENV, SECRET_NAME, Deployment
from harness.deploy.errors import DescriptionError
from harness.redact import register_secret

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class _Unset(Exception):  # noqa: N818 - a variable compose would leave empty
    pass


def read_service(path: Path, service: str | None) -> Deployment:
    """The deployment `service` of the compose file `path` describes (the one service that
    runs `mlflow server` when `service` is None)."""
    services = _services(path)
    name = service or _the_mlflow_service(path, services)
    if name not in services:
        raise DescriptionError(f"compose: {path} has no service {name!r} (it has "
                               f"{', '.join(sorted(services)) or 'none'})")
    spec = services[name]
    variables = _variables(path.parent / ".env")
    left_out: list[str] = []
    options = _server_options(path, name, spec, variables, left_out)
    environment = _environment(spec.get("environment") or {}, variables, left_out)
    image = spec.get("image")
    if image is not None and not isinstance(image, str):
        raise DescriptionError(f"compose: {path} service {name}: image is not text")
    if image is None and "build" in spec:
        left_out.append("build (give the image it builds with --from-image/--to-image)")
    return Deployment(source=f"{path}#{name}", server_options=options,
                      environment=environment, image=image, left_out=tuple(left_out))


def _services(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise DescriptionError("compose: reading a compose file needs PyYAML (pip install pyyaml)"
                               ) from None
    if not path.is_file():
        raise DescriptionError(f"compose: {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0]
        raise DescriptionError(f"compose: {path}: cannot read it ({first})") from None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not all(isinstance(s, dict) for s in services.values()):
        raise DescriptionError(f"compose: {path}: no services in it")
    return services


def _the_mlflow_service(path: Path, services: Mapping[str, Any]) -> str:
    found = [name for name, spec in services.items() if _mlflow_args(spec) is not None]
    if len(found) != 1:
        raise DescriptionError(f"compose: {path}: name the service with compose-service (or "
                               f"FILE#NAME); {len(found)} services run `mlflow server`")
    return str(found[0])


def _tokens(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(item) for item in value]
    raise DescriptionError(f"compose: a command must be text or a list, not {value!r}")


def _mlflow_args(spec: Mapping[str, Any]) -> list[str] | None:
    """What follows `mlflow server` in the service's entrypoint + command (also inside a
    `sh -c "…"`); None when it does not run one."""
    tokens = _tokens(spec.get("entrypoint")) + _tokens(spec.get("command"))
    for index, token in enumerate(tokens):
        if Path(token).name == "mlflow" and tokens[index + 1:index + 2] == ["server"]:
            return tokens[index + 2:]
        if token == "-c" and index + 1 < len(tokens):
            inner = _mlflow_args({"command": tokens[index + 1].split("&&")[-1]})
            if inner is not None:
                return inner
    return None


def _server_options(path: Path, name: str, spec: Mapping[str, Any], variables: dict[str, str],
                    left_out: list[str]) -> tuple[str, ...]:
    from harness.services.server_args import NOT_A_DEPLOYMENT, OWNED, server_options

    args = _mlflow_args(spec)
    if args is None:
        raise DescriptionError(f"compose: {path} service {name} does not run `mlflow server`")
    kept: list[str] = []
    for found in server_options(f"compose {name}", args):
        if found.name in OWNED or found.name in NOT_A_DEPLOYMENT:
            left_out.append(f"{found.name} ({OWNED.get(found.name) or 'not a deployment'})")
            continue
        try:
            value = None if found.value is None else _fill(found.value, variables)
        except _Unset as unset:
            left_out.append(f"{found.name} (${unset} is not set)")
            continue
        kept += [found.name] if value is None else [found.name, value]
    return tuple(kept)


def _environment(raw: Any, variables: dict[str, str], left_out: list[str]
                 ) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, list):
        pairs = [(str(item).partition("=")[0], str(item).partition("=")[2]) for item in raw]
    elif isinstance(raw, dict):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    else:
        raise DescriptionError(f"compose: environment must be a list or a mapping, not {raw!r}")
    found = []
    for name, value in pairs:
        if name in OWNED_ENV:
            left_out.append(f"{name} ({OWNED_ENV[name]})")
            continue
        try:
            filled = _fill(value, variables)
        except _Unset as unset:
            left_out.append(f"{name} (${unset} is not set)")
            continue
        if SECRET_NAME.search(name):
            register_secret(filled)
        found.append((name, filled))
    return tuple(found)


def _fill(text: str, variables: dict[str, str]) -> str:
    """`${NAME}`, `$NAME`, `${NAME:-default}` as compose fills them; `$$` is a `$`."""
    def value(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        found = os.environ.get(name, variables.get(name))
        if found is None:
            if match.group("default") is not None:
                return match.group("default")
            raise _Unset(name)
        if SECRET_NAME.search(name):
            register_secret(found)
        return found

    return "$".join(_VARIABLE.sub(value, part) for part in text.split("$$"))


def _variables(path: Path) -> dict[str, str]:
    """The `.env` file beside the compose file: NAME=VALUE lines."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text(errors="replace").splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and not name.startswith("#"):
            found[name.strip()] = value.strip().strip("'\"")
    return found
