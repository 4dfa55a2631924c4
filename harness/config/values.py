"""Option values: text from the command line or TOML values from a file, made typed.

Both sources give the same Python types for one option, so the code that uses a value never
knows where it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.config.options import Kind, Option


def percent(raw: str) -> float:
    """`20`, `20%` → 0.20 (argparse `type=`: a bad value is one line)."""
    try:
        return float(str(raw).strip().rstrip("%")) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {raw!r}") from None


def cli_type(option: Option) -> Any:
    """The argparse `type=` of an option's command-line text."""
    return {Kind.INT: int, Kind.FLOAT: float, Kind.PERCENT: percent}.get(option.kind)


class WrongType(ValueError):
    """A file's value does not fit its option; the message says what would."""


def from_file(option: Option, value: Any, folder: Path) -> Any:
    """A TOML value as the option's typed value; paths relative to the file's `folder`."""
    typed = _typed(option, value, folder)
    if option.convert is None:
        return typed
    try:
        if option.repeatable:
            return [option.convert(item) for item in typed]
        return typed if isinstance(typed, bool) else option.convert(typed)
    except (argparse.ArgumentTypeError, ValueError) as error:
        raise WrongType(str(error)) from None


def _typed(option: Option, value: Any, folder: Path) -> Any:
    kind = option.kind
    if kind is Kind.FLAG:
        return _expect(value, bool, "true or false")
    if kind is Kind.INT:
        return _expect(value, int, "an integer")
    if kind is Kind.FLOAT:
        return float(_expect(value, (int, float), "a number"))
    if kind is Kind.PERCENT:
        if isinstance(value, str):
            try:
                return percent(value)
            except argparse.ArgumentTypeError as error:
                raise WrongType(str(error)) from None
        return float(_expect(value, (int, float), "a percentage (20 or \"20%\")")) / 100
    if kind in (Kind.LIST, Kind.PATHS):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise WrongType("expected a list of text, e.g. [\"a\", \"b\"]")
        return [_anchored(i, folder) for i in items] if kind is Kind.PATHS else items
    text = _expect(value, str, "text")
    if option.choices and text not in option.choices:
        raise WrongType(f"expected one of {', '.join(option.choices)}")
    return _anchored(text, folder) if kind is Kind.PATH else text


def _expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and types is not bool and bool not in (
            types if isinstance(types, tuple) else (types,)):
        raise WrongType(f"expected {what}, not a boolean")
    if not isinstance(value, types):
        raise WrongType(f"expected {what}, not {type(value).__name__} {value!r}")
    return value


def _anchored(text: str, folder: Path) -> str:
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else folder / path)
