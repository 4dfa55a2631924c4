"""The config file: `[tool.mlflow-upgrade-harness]` in the project's `pyproject.toml`, or a TOML
file given with `--config FILE`.

Keys are the options' long flags without the dashes (`bench-budget = 300`); a side's options
go in `[tool.mlflow-upgrade-harness.from]` and `.to` (`mlflow = "2.9.2"`, `image = …`).
Paths are relative to the file's folder. The command line wins over the file, the file over
the defaults. An unknown key or a value of the wrong type is one line naming the key and the
file (exit 2).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.options import OPTIONS, SIDE_NAMES, Option
from harness.config.values import WrongType, from_file
from harness.errors import UsageError

TOOL = "mlflow-upgrade-harness"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class ConfigFile:
    """A config file's values (option dest → typed value) and where they came from."""

    path: Path
    section: str  # "[tool.mlflow-upgrade-harness]" or "" for a file of its own
    values: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.path} {self.section}".strip()


def discover(start: Path) -> Path | None:
    """The nearest `pyproject.toml` in `start` or above it with a `[tool.mlflow-upgrade-harness]`
    table (as ruff and pytest find theirs)."""
    for folder in (start, *start.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file() and TOOL in _read(candidate).get("tool", {}):
            return candidate
    return None


@dataclass(frozen=True)
class RawConfig:
    """A config file's table, read but not yet checked against the options."""

    path: Path
    section: str
    table: dict[str, Any]

    def peek(self, option: Option) -> Any:
        """One option's typed value (None when the file does not set it): what must be known
        before the rest can be checked (the scenario folders declare options of their own)."""
        if option.key not in self.table:
            return None
        config = ConfigFile(self.path, self.section)
        _set(config, {option.key: option}, option.key, self.table[option.key])
        return config.values[option.dest()]

    def checked(self, options: Iterable[Option]) -> ConfigFile:
        return ConfigFile(self.path, self.section, _typed_values(self, list(options)))


def find_config(explicit: str | None, start: Path) -> RawConfig | None:
    """`--config FILE` if given, else the discovered pyproject's table (None when neither)."""
    if explicit is not None:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--config {explicit}: no such file")
    else:
        found = discover(start)
        if found is None:
            return None
        path = found
    data = _read(path)
    table = data.get("tool", {}).get(TOOL)
    if table is not None:
        return RawConfig(path, f"[tool.{TOOL}]", table)
    if path.name == PYPROJECT and "tool" in data:
        raise UsageError(f"{path}: no [tool.{TOOL}] table in it")
    return RawConfig(path, "", data)


def _typed_values(raw: RawConfig, options: list[Option]) -> dict[str, Any]:
    config = ConfigFile(raw.path, raw.section)
    _take(config, raw.table, options)
    return config.values


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data; one line (UsageError) when it cannot be read or parsed."""
    return _read(path)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None


def _take(config: ConfigFile, table: dict[str, Any], options: list[Option]) -> None:
    """The values of `options`; keys of the other commands' options are left for them."""
    plain = {o.key: o for o in options if not o.sided}
    sided = {o.key: o for o in options if o.sided}
    others = {o.key for o in OPTIONS if not o.sided} - set(plain)
    others_sided = {o.key for o in OPTIONS if o.sided} - set(sided)
    for key, value in table.items():
        if key in others:
            continue
        if key in SIDE_NAMES:
            if not isinstance(value, dict):
                raise UsageError(f"{config.path}: {key} must be a table, [{_name(config, key)}], "
                                 f"of the {SIDE_NAMES[key]} side's options "
                                 "(e.g. mlflow = \"2.9.2\")")
            for inner, item in value.items():
                if inner not in others_sided:
                    _set(config, sided, inner, item, side=key)
            continue
        _set(config, plain, key, value)


def _set(config: ConfigFile, known: dict[str, Option], key: str, value: Any,
         side: str = "") -> None:
    table = _name(config, side)
    where = f" in [{table}]" if table else ""
    if key not in known:
        near = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UsageError(f"{config.path}: unknown key {key!r}{where}{hint}")
    option = known[key]
    if not option.in_file:
        raise UsageError(f"{config.path}: {key}{where} cannot be set in a config file; give "
                         f"{option.cli_flags(side)[0]} on the command line")
    try:
        if isinstance(value, dict) and option.table is not None:
            inner = f"[{table}.{key}]" if table else f"[{key}]"
            try:
                config.values[option.dest(side)] = option.table(
                    value, config.path.parent, f"{config.path} {inner}")
            except ValueError as error:  # the hook's one line
                raise UsageError(f"{config.path}: {error} in {inner}") from None
            return
        config.values[option.dest(side)] = from_file(option, value, config.path.parent)
    except WrongType as error:
        raise UsageError(f"{config.path}: {key} = {value!r}{where}: {error}") from None


def _name(config: ConfigFile, side: str) -> str:
    """The TOML table a key sits in: `tool.mlflow-upgrade-harness.from`, or "" (top level)."""
    base = f"tool.{TOOL}" if config.section else ""
    return ".".join(part for part in (base, side) if part)
