"""The size rule for harness/ (issue 28): no function over 60 lines, no module over 450 lines,
no function with more than 10 parameters, except the items ARCHITECTURE.md's "Size exceptions"
table lists (that table is the one list: an item back within its limits must leave it)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
SECTION = "## Size exceptions"
LIMITS = {"module lines": 450, "lines": 60, "parameters": 10}

Functions = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Functions]]:
    """Every function under `node` with its dotted name (`Class.method`, `outer.inner`)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def _lines(function: Functions) -> int:
    """From the `def` line (decorators not counted) to the last line of its body."""
    return (function.end_lineno or function.lineno) - function.lineno + 1


def _parameters(function: Functions) -> int:
    args = function.args
    named = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
    return named + (args.vararg is not None) + (args.kwarg is not None)


def measure() -> dict[tuple[str, str], int]:
    """{(item, measure): size} for every item over a limit; item `path` or `path:function`."""
    over: dict[tuple[str, str], int] = {}
    for path in sorted(HARNESS.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > LIMITS["module lines"]:
            over[(relative, "lines")] = lines
        for name, function in _functions(ast.parse(text, filename=relative)):
            item = f"{relative}:{name}"
            if _lines(function) > LIMITS["lines"]:
                over[(item, "lines")] = _lines(function)
            if _parameters(function) > LIMITS["parameters"]:
                over[(item, "parameters")] = _parameters(function)
    return over


def exceptions(text: str) -> dict[tuple[str, str], str]:
    """{(item, measure): reason} from the table of the "Size exceptions" section."""
    _, found, rest = text.partition(f"\n{SECTION}\n")
    assert found, f"ARCHITECTURE.md has no {SECTION!r} section"
    section = rest.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    listed: dict[tuple[str, str], str] = {}
    for row in rows[2:]:  # the header and its separator first
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 3, f"a row of item | size | reason: {row}"
        item, size, reason = cells[0].strip("`"), cells[1], cells[2]
        measures = re.findall(r"\d+ (lines|parameters)\b", size)
        assert measures and reason, f"a row names its size (N lines, N parameters) and why: {row}"
        for each in measures:
            listed[(item, each)] = reason
    return listed


def _describe(key: tuple[str, str], size: int) -> str:
    item, what = key
    limit = LIMITS["module lines" if ":" not in item and what == "lines" else what]
    return f"{item}: {size} {what} (limit {limit})"


def test_functions_modules_and_parameters_within_limits() -> None:
    over = measure()
    listed = exceptions(ARCHITECTURE.read_text(encoding="utf-8"))
    unlisted = [_describe(key, size) for key, size in over.items() if key not in listed]
    assert not unlisted, (
        "over the size limits (split it, or add a row with the reason to ARCHITECTURE.md's "
        f"{SECTION!r}):\n" + "\n".join(unlisted))
    stale = [f"{item}: {what}" for item, what in listed if (item, what) not in over]
    assert not stale, (
        f"within the limits now: remove their rows from ARCHITECTURE.md's {SECTION!r}:\n"
        + "\n".join(stale))


def test_the_measures_count_lines_from_def_and_every_parameter() -> None:
    code = (
        "class A:\n"
        "    @staticmethod\n"
        "    def f(self, a, /, b, *args, c, **kwargs):\n"
        "        def inner():\n"
        "            pass\n"
        "        return 1\n"
    )
    found = {name: (_lines(f), _parameters(f)) for name, f in _functions(ast.parse(code))}
    assert found == {"A.f": (4, 6), "A.f.inner": (2, 0)}


def test_the_exceptions_table_is_read_per_measure() -> None:
    text = (
        "# Doc\n\n## Size exceptions\n\nprose | with a bar\n\n"
        "| item | size | reason |\n|---|---|---|\n"
        "| `a.py` | 500 lines | why |\n"
        "| `b.py:f` | 70 lines, 12 parameters | because |\n"
        "\n## Later\n\n| `c.py` | 900 lines | not in the section |\n"
    )
    assert exceptions(text) == {
        ("a.py", "lines"): "why", ("b.py:f", "lines"): "because",
        ("b.py:f", "parameters"): "because",
    }
