"""A side's deployment description: how the team runs that side's `mlflow server`.

Given as `[tool.mlflow-upgrade-harness.from.deployment]` / `.to.deployment` in the config file,
or as a file of its own (`--from-deployment FILE`, `--to-deployment FILE`: the same keys at the
top level of a TOML file, or a docker-compose file, `compose.yml#service`):

    public-url = "https://mlflow.example.com/mlflow"   # what clients use
    server-options = "--allowed-hosts mlflow.example.com --workers 4"
    environment = { MLFLOW_BASIC_AUTH_FAIL_CLOSED = "true" }
    secrets = ["MLFLOW_FLASK_SERVER_SECRET_KEY"]     # values from your environment, by name
    auth-config = "deploy/basic_auth.ini"
    ingress-headers = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"]
    strip-prefix = false                             # the ingress passes /mlflow on
    compose = "docker-compose.yml"                   # image, command, environment of a service
    compose-service = "mlflow"

Every problem is one line naming the key. A secret's value is read from the caller's
environment when the server starts, registered for redaction, and never written anywhere: the
reports name it only.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.deploy.auth_config import AuthSettings, read_auth_config
from harness.deploy.errors import DescriptionError
from harness.errors import UsageError
from harness.redact import register_secret
from harness.services.server_args import check_server_args, static_prefix

# Environment variables the harness sets on every server itself, and why.
OWNED_ENV = {
    "MLFLOW_BACKEND_STORE_URI": "each side's database is created by the harness",
    "MLFLOW_REGISTRY_STORE_URI": "the registry lives in each side's own database",
    "MLFLOW_READ_REPLICA_BACKEND_STORE_URI": "each side's database is created by the harness",
    "MLFLOW_WORKSPACE_STORE_URI": "each side's database is created by the harness",
    "MLFLOW_DEFAULT_ARTIFACT_ROOT": "artifacts are served into the run's own S3 prefix",
    "MLFLOW_ARTIFACTS_DESTINATION": "artifacts are served into the run's own S3 prefix",
    "MLFLOW_ARTIFACTS_ONLY": "an artifacts-only server is not a tracking server",
    "MLFLOW_S3_ENDPOINT_URL": "artifacts go to the run's own S3 store",
    "AWS_ACCESS_KEY_ID": "the run's S3 store has its own credentials",
    "AWS_SECRET_ACCESS_KEY": "the run's S3 store has its own credentials",
    "AWS_SESSION_TOKEN": "the run's S3 store has its own credentials",
    "AWS_PROFILE": "the run's S3 store has its own credentials",
    "AWS_DEFAULT_REGION": "the run's S3 store has its own region",
    "MLFLOW_AUTH_CONFIG_PATH": "give the file as auth-config",
}
# A name like these holds a secret: it goes in `secrets` (by name), never in a file.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|(^|_)KEY($|_)|PRIVATE", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What an ingress commonly adds; their values follow from the public URL and the client.
FORWARDED = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
             "X-Forwarded-Prefix", "X-Real-IP", "Forwarded")
DEFAULT_INGRESS_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host")
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")
KEYS = ("public-url", "server-options", "environment", "secrets", "auth-config",
        "ingress-headers", "strip-prefix", "compose", "compose-service", "use-image")


@dataclass(frozen=True)
class PublicUrl:
    """The URL the team's clients use: `https://mlflow.example.com:8443/mlflow`."""

    scheme: str
    host: str
    port: int | None = None  # None: the scheme's default
    path: str = ""  # "" or "/mlflow" (no trailing slash)

    @property
    def default_port(self) -> int:
        return 443 if self.scheme == "https" else 80

    @property
    def host_header(self) -> str:
        """`Host` as a client of this URL sends it (the port only when not the default)."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port in (None, self.default_port) else f"{shown}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host_header}"

    @property
    def text(self) -> str:
        return self.origin + self.path


def parse_public_url(raw: str) -> PublicUrl:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DescriptionError("expected an http:// or https:// URL with a host name, e.g. "
                               "\"https://mlflow.example.com\"")
    if parts.username or parts.password:
        raise DescriptionError("a public URL carries no credentials")
    if parts.query or parts.fragment:
        raise DescriptionError("a public URL has no query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise DescriptionError("its port is not a number between 0 and 65535") from None
    return PublicUrl(parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))


@dataclass(frozen=True)
class Deployment:
    """One side's server as the team runs it; empty when not described."""

    source: str = ""  # where it was read, for messages and the report
    server_options: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()  # (name, value): not secrets
    secrets: tuple[tuple[str, str], ...] = ()  # (name in the server, name in your environment)
    auth: AuthSettings | None = None
    public_url: PublicUrl | None = None
    ingress_headers: tuple[tuple[str, str], ...] = ()  # (name, value; "" = from the URL)
    strip_prefix: bool | None = None  # None: strip unless the server's static prefix is it
    image: str | None = None  # a compose service's image
    left_out: tuple[str, ...] = ()  # what a compose service sets that the harness owns

    @property
    def described(self) -> bool:
        return bool(self.source)

    def server_env(self) -> dict[str, str]:
        """The environment the side's servers get: the values, and the secrets read now."""
        env = dict(self.environment)
        for name, source in self.secrets:
            value = os.environ.get(source, "")
            register_secret(value)
            env[name] = value
        return env

    def static_prefix(self) -> str:
        """The server's `--static-prefix` (or MLFLOW_STATIC_PREFIX), "" when none."""
        return static_prefix(self.server_options, dict(self.environment))

    def strips(self) -> bool:
        """Whether the ingress removes the URL's path before the server sees the request."""
        if self.public_url is None or not self.public_url.path:
            return False
        if self.strip_prefix is not None:
            return self.strip_prefix
        return self.static_prefix() != self.public_url.path


def parse_table(table: Mapping[str, Any], folder: Path, source: str) -> Deployment:
    """A description from a TOML table (keys as in the module's docstring); paths relative
    to `folder`. Raises DescriptionError with one line naming the key."""
    unknown = [key for key in table if key not in KEYS]
    if unknown:
        near = difflib.get_close_matches(unknown[0], KEYS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise DescriptionError(f"unknown key {unknown[0]!r}{hint}; a deployment has "
                               + ", ".join(KEYS))
    base = _compose_base(table, folder)
    deployment = replace(
        base, source=source,
        server_options=base.server_options + _options(table.get("server-options", [])),
        environment=_merged(base.environment, _environment(table.get("environment", {}))),
        secrets=_merged(base.secrets, _secrets(table.get("secrets", []))),
        auth=_auth(table.get("auth-config"), folder),
        public_url=_public_url(table.get("public-url")),
        strip_prefix=_flag(table, "strip-prefix"),
    )
    headers = _ingress_headers(table.get("ingress-headers"), deployment.public_url)
    return replace(deployment, ingress_headers=headers)


def _compose_base(table: Mapping[str, Any], folder: Path) -> Deployment:
    if "compose" not in table:
        for key in ("compose-service", "use-image"):
            if key in table:
                raise DescriptionError(f"{key} needs compose = \"docker-compose.yml\"")
        return Deployment()
    from harness.deploy.compose import read_service

    path = _text(table, "compose")
    service = table.get("compose-service")
    if service is not None and not isinstance(service, str):
        raise DescriptionError(f"compose-service = {service!r}: expected the service's name")
    found = read_service(Path(_anchored(path, folder)), service)
    return found if _flag(table, "use-image") is not False else replace(found, image=None)


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise DescriptionError(f"{key} = {value!r}: expected text")
    return value


def _flag(table: Mapping[str, Any], key: str) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise DescriptionError(f"{key} = {value!r}: expected true or false")
    return value


def _options(raw: Any) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise DescriptionError(f"server-options = {raw!r}: expected text like \"--workers 4\" or a "
                               "list of such texts")
    found: list[str] = []
    for item in items:
        try:
            found += shlex.split(item)
        except ValueError as error:
            raise DescriptionError(f"server-options {item!r}: cannot split it into arguments "
                                   f"({str(error).lower()}): check the quotes") from None
    try:
        return check_server_args("server-options", found)
    except UsageError as error:
        raise DescriptionError(str(error)) from None


def _environment(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise DescriptionError(f"environment = {raw!r}: expected a table, e.g. "
                               "{ MLFLOW_BASIC_AUTH_FAIL_CLOSED = \"true\" }")
    found = []
    for name, value in raw.items():
        check_env_name("environment", name)
        if SECRET_NAME.search(name):
            raise DescriptionError(f"environment: {name} looks like a secret: list it in "
                                   "secrets (its value is then read from your environment, "
                                   "never from a file)")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise DescriptionError(f"environment: {name} = {value!r}: expected text or a number")
        found.append((name, str(value)))
    return tuple(found)


def check_env_name(key: str, name: Any) -> str:
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise DescriptionError(f"{key}: {name!r} is not an environment variable name")
    if name in OWNED_ENV:
        raise DescriptionError(f"{key}: the harness sets {name} itself ({OWNED_ENV[name]})")
    return name


def _secrets(raw: Any) -> tuple[tuple[str, str], ...]:
    """`["NAME"]` (the same name here and in the server) or `{ NAME = "YOUR_NAME" }`."""
    if isinstance(raw, list):
        pairs = [(name, name) for name in raw]
    elif isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        raise DescriptionError(f"secrets = {raw!r}: expected a list of names, e.g. "
                               "[\"MLFLOW_FLASK_SERVER_SECRET_KEY\"]")
    found = []
    for name, source in pairs:
        check_env_name("secrets", name)
        if not isinstance(source, str) or not _ENV_NAME.match(source):
            raise DescriptionError(f"secrets: {name} = {source!r}: expected the name of a variable "
                                   "of your environment")
        if source not in os.environ:
            raise DescriptionError(f"secrets: {source} is not set in your environment")
        register_secret(os.environ[source])
        found.append((name, source))
    return tuple(found)


def _merged(base: tuple[tuple[str, str], ...],
            more: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """`base` (a compose service's) with `more` (the table's) over it, in order."""
    names = {name for name, _ in more}
    return tuple(pair for pair in base if pair[0] not in names) + more


def _auth(raw: Any, folder: Path) -> AuthSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise DescriptionError(f"auth-config = {raw!r}: expected the path of your basic_auth.ini")
    return read_auth_config(Path(_anchored(raw, folder)))


def _public_url(raw: Any) -> PublicUrl | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise DescriptionError(f"public-url = {raw!r}: expected text")
    try:
        return parse_public_url(raw)
    except DescriptionError as error:
        raise DescriptionError(f"public-url = {raw!r}: {error}") from None


def _ingress_headers(raw: Any, url: PublicUrl | None) -> tuple[tuple[str, str], ...]:
    """Names (values from the URL and the client) or a table of names and values; by default
    the common three, when there is a public URL."""
    if raw is None:
        return tuple((name, "") for name in DEFAULT_INGRESS_HEADERS) if url else ()
    if url is None:
        raise DescriptionError("ingress-headers needs public-url: they are what your ingress adds "
                               "to requests for it")
    pairs = [(name, "") for name in raw] if isinstance(raw, list) else \
        list(raw.items()) if isinstance(raw, Mapping) else None
    if pairs is None:
        raise DescriptionError(f"ingress-headers = {raw!r}: expected a list of header names or a "
                               "table of names and values")
    found = []
    for name, value in pairs:
        if not isinstance(name, str) or not _HEADER.match(name) or name.lower() == "host":
            raise DescriptionError(f"ingress-headers: {name!r} is not a header the ingress can add "
                                   "(Host follows from public-url)")
        if not isinstance(value, str):
            raise DescriptionError(f"ingress-headers: {name} = {value!r}: expected text")
        if not value and name.lower() not in {h.lower() for h in FORWARDED}:
            raise DescriptionError(f"ingress-headers: {name} needs a value (only "
                                   f"{', '.join(FORWARDED)} follow from the URL)")
        found.append((name, value))
    return tuple(found)


def _anchored(text: str, folder: Path) -> str:
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else folder / path)
