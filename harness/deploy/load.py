"""A side's description from where the options put it: a table of the config file (already
parsed by the file reader), or a file named by `--from-deployment`/`--to-deployment` (or
`deployment = "FILE"` in the config file): TOML with the description's keys at its top level,
or a docker-compose file (`compose.yml`, `compose.yml#service`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config.file import read_toml
from harness.deploy.description import Deployment, parse_table
from harness.deploy.errors import DescriptionError
from harness.errors import UsageError

COMPOSE_SUFFIXES = (".yml", ".yaml")


def deployment_from(option: str, value: Any) -> Deployment:
    """`value` as the option holds it: None (not described), a parsed table, or a path."""
    if value is None:
        return Deployment()
    if isinstance(value, Deployment):
        return value
    return load_deployment(option, str(value))


def load_deployment(option: str, raw: str) -> Deployment:
    """The description in the file `raw` (`FILE` or `COMPOSE#SERVICE`); one line on error."""
    text, _, service = raw.partition("#")
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"{option} {raw}: no such file")
    try:
        if path.suffix in COMPOSE_SUFFIXES:
            from harness.deploy.compose import read_service

            return read_service(path, service or None)
        if service:
            raise DescriptionError(f"#{service} names a compose service, and {path.name} is not a "
                                   "compose file (.yml, .yaml)")
        return parse_table(read_toml(path), path.parent, str(path))
    except (DescriptionError, UsageError) as error:
        raise UsageError(f"{option} {raw}: {error}") from None


def table_option(table: dict[str, Any], folder: Path, source: str) -> Deployment:
    """The config file's `[….from.deployment]` table (the option table's `table` hook)."""
    return parse_table(table, folder, source)
