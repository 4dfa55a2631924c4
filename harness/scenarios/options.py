"""The built-in scenarios' own options (declared in `conftest.py`'s `pytest_addoption`): each
value is checked where it is given, before anything starts, as argparse `type=` functions."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from harness.errors import UsageError
from harness.proxy.service import check_template


def deltaone_detector(raw: str) -> str:
    """`FILE[:FUNCTION]` (default function `detect`) → `/abs/FILE:FUNCTION`; the file must
    define that function. Parsed, not imported: a detector imports MLflow, which the harness
    never does."""
    file, _, function = raw.partition(":")
    function = function or "detect"
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"--deltaone-detector: no such file {file!r}")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"--deltaone-detector: {file!r} is not valid Python: {error}") from None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    if function not in defined:
        raise argparse.ArgumentTypeError(
            f"--deltaone-detector: {file!r} defines no function {function!r}")
    return f"{path}:{function}"


def proxy_command(template: str) -> str:
    """A `--proxy-command` template that can work (it names {upstream} and {port})."""
    try:
        return check_template(template)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
