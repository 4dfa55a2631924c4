"""The option table as the pytest plugin's options, for `pytest harness/scenarios/
--mlflow-from 2.9.2 --mlflow-to 3.4.0` in a team's repository: each run option (those that mean
something to one pytest session) as `--harness-KEY` (`--mlflow-from`/`--mlflow-to` for the
versions), read with the same config file and precedence as the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config.build import build_config
from harness.config.file import find_config
from harness.config.model import RunConfig
from harness.config.options import Kind, Option, for_command
from harness.config.parser import resolve
from harness.config.values import cli_type

PREFIX = "harness_"


def plugin_options() -> list[Option]:
    return [option for option in for_command("run") if option.plugin]


def plugin_flag(option: Option, side: str) -> str:
    if option.key == "mlflow":
        return f"--mlflow-{side}"
    return "--harness-" + option.cli_flags(side)[0].removeprefix("--")


def add_plugin_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlflow-upgrade-harness")
    for option in plugin_options():
        for side, dest in option.instances():
            kwargs: dict[str, Any] = {"dest": PREFIX + dest, "default": None,
                                      "help": option.side_help(side) if side else option.help}
            if option.kind is Kind.FLAG:
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = option.metavar
                if option.repeatable:
                    kwargs["action"] = "append"
                elif cli_type(option) is not None:
                    kwargs["type"] = cli_type(option)
                if option.choices:
                    kwargs["choices"] = option.choices
            group.addoption(plugin_flag(option, side), **kwargs)


def versions_given(config: pytest.Config) -> bool:
    return bool(config.getoption(PREFIX + "from_mlflow") and config.getoption(PREFIX + "to_mlflow"))


def run_config(config: pytest.Config) -> RunConfig:
    """The run's configuration from pytest's options, else the config file, else defaults."""
    options = plugin_options()
    given = {dest: value for option in options for _side, dest in option.instances()
             if (value := config.getoption(PREFIX + dest)) not in (None, False)}
    raw = find_config(None, Path(config.rootpath))
    file = raw.checked(for_command("run")) if raw is not None else None
    values = resolve(options, given, file)
    return build_config(**values)
