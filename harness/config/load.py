"""From a command line (and the config file) to the values of every option of a command.

The scenario folders declare options of their own (`scenario_options.py`), so the folders are
known first: from the command line, else from the file. Then the file is checked against every
option, the command line parsed, and each value taken from the command line, else the file,
else its default (`parser.resolve`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.file import ConfigFile, RawConfig, find_config
from harness.config.options import Option, by_key, for_command
from harness.config.parser import resolve
from harness.config.scenario_options import as_pytest_args, declared_options


@dataclass(frozen=True)
class CommandOptions:
    """The options of one command: the table's, and those its scenario folders declare."""

    table: list[Option]
    scenarios: list[Option]
    file: ConfigFile | None

    @property
    def all(self) -> list[Option]:
        return [*self.table, *self.scenarios]

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """Every option's value: the command line's (`args` holds only what was given), else
        the file's, else the default."""
        dests = {dest for option in self.all for _side, dest in option.instances()}
        given = {k: v for k, v in vars(args).items() if k in dests}
        return resolve(self.all, given, self.file)

    def scenario_args(self, values: dict[str, Any]) -> tuple[str, ...]:
        return as_pytest_args(self.scenarios, values)

    def table_values(self, values: dict[str, Any]) -> dict[str, Any]:
        dests = {dest for option in self.table for _side, dest in option.instances()}
        return {k: v for k, v in values.items() if k in dests}


def command_options(command: str, argv: Sequence[str], cwd: Path,
                    active: bool = True) -> CommandOptions:
    """Before the full parse: the config file (read) and the scenario folders' options; a
    command that is not the one given only needs its options (for the parser)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--scenarios", action="append")
    pre.add_argument("--no-builtin", action="store_true")
    known, _rest = pre.parse_known_args(argv)
    raw = find_config(known.config, cwd) if active and command in ("run", "scan", "record") \
        else None
    scenario_options = _scenario_options(known, raw) if command == "run" else []
    file = raw.checked([*for_command(command), *scenario_options]) if raw else None
    return CommandOptions(for_command(command), scenario_options, file)


def _scenario_options(known: argparse.Namespace, raw: RawConfig | None) -> list[Option]:
    from harness.resources import builtin_scenarios

    keys = by_key()
    folders = known.scenarios or (raw.peek(keys["scenarios"]) if raw else None) or []
    builtin = not (known.no_builtin or (raw.peek(keys["no-builtin"]) if raw else False))
    found = [Path(folder).expanduser().resolve() for folder in folders]
    return declared_options(([builtin_scenarios()] if builtin else []) + found)
