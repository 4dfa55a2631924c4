"""The command line, derived from the option table, and how its values meet the config file's.

Every option is added with `default=SUPPRESS`, so the parsed namespace holds only what was given
on the command line; `resolve` then takes each value from the command line, else the config
file, else the option's default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from harness.config.file import ConfigFile
from harness.config.options import Group, Kind, Option
from harness.config.values import cli_type


class StoreOnce(argparse.Action):
    """`store`, except that one option given twice with different values is an error (argparse
    would silently keep the last one: `--to 3.4.0 … --to 3.5.0` must not verify the wrong
    upgrade). The same value twice is harmless and accepted."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        given: dict[str, tuple[str, Any]] = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given and given[self.dest][1] != values:
            first, before = given[self.dest]
            parser.error(f"{first} {before!r} and {option_string} {values!r} contradict each "
                         "other: give it once")
        given[self.dest] = (option_string or self.dest, values)
        setattr(namespace, self.dest, values)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, and a single-valued option
    given twice with different values is a usage error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, StoreOnce)
        self.register("action", "store", StoreOnce)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """One argument per option (per side for a sided one), in groups, none with a default."""
    groups: dict[Group, Any] = {}
    exclusive: dict[str, Any] = {}
    for option in options:
        group = groups.get(option.group) or groups.setdefault(
            option.group, parser.add_argument_group(option.group.value))
        if option.exclusive:
            group = exclusive.get(option.exclusive) or exclusive.setdefault(
                option.exclusive, group.add_mutually_exclusive_group())
        for side, dest in option.instances():
            group.add_argument(*option.cli_flags(side), **_argument(option, side, dest))


def _argument(option: Option, side: str, dest: str) -> dict[str, Any]:
    shown = option.side_help(side) if side else option.help
    if option.default not in (None, False):
        shown += f" (default: {option.default:g})" if isinstance(option.default, float) \
            else f" (default: {option.default})"
    argument: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS,
                                "help": shown.replace("%", "%%")}
    if option.kind is Kind.FLAG:
        return argument | {"action": "store_true"}
    argument["metavar"] = option.metavar
    if option.repeatable:
        argument["action"] = "append"
    if option.convert is not None:
        argument["type"] = option.convert
    elif cli_type(option) is not None:
        argument["type"] = cli_type(option)
    if option.choices:
        argument["choices"] = option.choices
    return argument


def resolve(options: Iterable[Option], given: Mapping[str, Any],
            file: ConfigFile | None) -> dict[str, Any]:
    """Each option's value: the command line's, else the file's, else its default."""
    values: dict[str, Any] = {}
    from_file = file.values if file is not None else {}
    for option in options:
        for _side, dest in option.instances():
            if dest in given:
                values[dest] = given[dest]
            elif dest in from_file:
                values[dest] = from_file[dest]
            else:
                values[dest] = list(option.default or []) if option.repeatable \
                    else option.default
    return values
