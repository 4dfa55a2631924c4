"""The README's option table, generated from the option table (`options.py`).

`python3 -m harness.config.table --write README.md` rewrites the part of README.md between
`<!-- options:start -->` and `<!-- options:end -->`; tests/unit/test_config_file.py fails when
it is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.config.options import OPTIONS, Kind, Option

START, END = "<!-- options:start -->", "<!-- options:end -->"


def _flags(option: Option) -> str:
    sides = ["from", "to"] if option.sided else [""]
    shown = []
    for side in sides:
        flags = option.cli_flags(side)
        value = "" if option.kind is Kind.FLAG else f" {option.metavar or 'VALUE'}"
        shown.append(", ".join(f"`{flag}{value}`" for flag in flags))
    return ", ".join(shown).replace("|", "\\|")


def _file_key(option: Option) -> str:
    if not option.in_file:
        return "—"
    if option.sided:
        return f"`{option.key}` in `.from` / `.to`"
    return f"`{option.key}`"


def _meaning(option: Option) -> str:
    text = option.help.format(side="old or new") if option.sided else option.help
    if option.default not in (None, False, [], ()):
        shown = f"{option.default:.0%}" if option.kind is Kind.PERCENT else (
            f"{option.default:g}" if isinstance(option.default, float) else option.default)
        text += f" (default {shown})"
    if option.repeatable and "repeatable" not in text:
        text += "; repeatable"
    return text.replace("|", "\\|")


def render() -> str:
    """The Markdown table, a section per group, in the table's order; then the options the
    built-in scenarios declare (`harness/scenarios/conftest.py`)."""
    from harness.config.scenario_options import declared_options
    from harness.resources import builtin_scenarios

    lines = ["| option | meaning | config file key |", "|---|---|---|"]
    group = ""
    declared = declared_options([builtin_scenarios()])
    for title, option in [*((o.group.value, o) for o in OPTIONS),
                          *(("declared by the built-in scenarios", o) for o in declared)]:
        if title != group:
            group = title
            lines.append(f"| **{group}** | | |")
        lines.append(f"| {_flags(option)} | {_meaning(option)} | {_file_key(option)} |")
    return "\n".join(lines)


def replaced(text: str) -> str:
    """`text` with the part between the markers replaced by the rendered table."""
    if START not in text or END not in text:
        raise ValueError(f"no {START} … {END} section")
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m harness.config.table")
    parser.add_argument("--write", metavar="FILE", help="replace the marked table in FILE")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(replaced(path.read_text()))
    else:
        sys.stdout.write(render() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
