"""Options that scenario folders declare for themselves, in their conftest's `pytest_addoption`
(the DeltaOne detector, the team's proxy command, a team scenario's own settings).

The CLI records them with a stand-in for pytest's parser, so they are command-line options
and config-file keys like the table's (checked by the `type=` they declare), and hands the
values on to pytest as arguments; a scenario reads them with `request.config.getoption`.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.config.options import Group, Kind, Option
from harness.errors import UsageError

CONFTEST = "conftest.py"


class _Recorder:
    """What a conftest's `pytest_addoption(parser)` sees: it records `addoption` calls."""

    def __init__(self) -> None:
        self.options: list[Option] = []

    def getgroup(self, name: str, description: str = "") -> _Recorder:
        return self

    def addini(self, *args: Any, **kwargs: Any) -> None:
        """Ini values are pytest's business, not a command-line option."""

    def addoption(self, *flags: str, **kwargs: Any) -> None:
        long = next((flag for flag in flags if flag.startswith("--")), None)
        if long is None:
            raise UsageError(f"scenario option {flags}: needs a --long flag")
        action = kwargs.get("action")
        kind = Kind.FLAG if action == "store_true" else Kind.LIST if action == "append" \
            else Kind.PATH if str(kwargs.get("metavar", "")).startswith(("FILE", "DIR", "PATH")) \
            else Kind.TEXT
        self.options.append(Option(
            long.removeprefix("--"), str(kwargs.get("help", "")), Group.SCENARIOS, kind,
            default=kwargs.get("default", False if kind is Kind.FLAG else None),
            metavar=kwargs.get("metavar"), convert=kwargs.get("type")))


def declared_options(folders: Iterable[Path]) -> list[Option]:
    """The options the conftests of these scenario folders declare, in folder order."""
    recorder = _Recorder()
    for folder in folders:
        conftest = folder / CONFTEST
        if conftest.is_file() and _declares_options(conftest):
            _load(conftest).pytest_addoption(recorder)
    return recorder.options


def _declares_options(conftest: Path) -> bool:
    """Parsed, not imported, first: most conftests declare nothing."""
    try:
        tree = ast.parse(conftest.read_text(), filename=str(conftest))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "pytest_addoption"
               for node in tree.body)


def _load(conftest: Path) -> Any:
    from harness.resources import builtin_scenarios

    if conftest.parent.resolve() == builtin_scenarios().resolve():
        import harness.scenarios.conftest as builtin

        return builtin
    spec = importlib.util.spec_from_file_location(
        f"_harness_scenario_options_{abs(hash(conftest))}", conftest)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a team's conftest that cannot be imported: say so, once
        raise UsageError(f"--scenarios: cannot read the options of {conftest}: "
                         f"{type(error).__name__}: {error}") from None
    return module


def as_pytest_args(options: Iterable[Option], values: Mapping[str, Any]) -> tuple[str, ...]:
    """The options' values that differ from their defaults, as pytest arguments."""
    args: list[str] = []
    for option in options:
        value = values.get(option.dest())
        if value is None or value == option.default or value == []:
            continue
        flag = option.cli_flags()[0]
        if option.kind is Kind.FLAG:
            args.append(flag)
        elif option.repeatable:
            args += [f"{flag}={item}" for item in value]
        else:
            args.append(f"{flag}={value}")
    return tuple(args)
