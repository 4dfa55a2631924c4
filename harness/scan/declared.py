"""What a version's source declares about its API, read from griffe's objects: deprecations
(`@deprecated(since=…, alternative=…)`, `@deprecated_parameter(old, new)`, `.. deprecated::`
or a leading `[Deprecated, use X instead]` in a docstring, `name: Deprecated. …` and `:param
name: .. deprecated:: …` for parameters), the types functions and properties give (annotations,
or a docstring's returns section), and the module a lazy loader stands for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

import griffe

_OPTIONAL = ("Optional", "Union")
_RETURNS = re.compile(r"^\s*(?::returns?:|Returns:)(.*?)(?:^\s*$|^\s*:\w|\Z)",
                      re.MULTILINE | re.DOTALL)
_CLASS_ROLE = re.compile(r":py:class:`(?:[^`<]*<)?~?([\w.]+)>?`")


def type_text(expr: object, package: str) -> str | None:
    """A type annotation as the surface keeps it: the path of a class of the package, or
    `outer[item]` for a container of one (`list[…]`, `PagedList[…]`); `X | None` and
    `Optional[X]` are X. Anything else (builtins, several types) is None."""
    if isinstance(expr, griffe.ExprName):
        path = expr.canonical_path
        return path if path.startswith(package + ".") else None
    if isinstance(expr, griffe.ExprBinOp) and expr.operator == "|":
        sides = [s for s in (expr.left, expr.right) if str(s) != "None"]
        return type_text(sides[0], package) if len(sides) == 1 else None
    if not isinstance(expr, griffe.ExprSubscript):
        return None
    outer = expr.left.canonical_path if isinstance(expr.left, griffe.ExprName) \
        else str(expr.left)
    inner = expr.slice
    if outer.rpartition(".")[2] in _OPTIONAL:
        elements = inner.elements if isinstance(inner, griffe.ExprTuple) else [inner]
        kept = [e for e in elements if str(e) != "None"]
        return type_text(kept[0], package) if len(kept) == 1 else None
    item = None if isinstance(inner, griffe.ExprTuple) else type_text(inner, package)
    return f"{outer}[{item}]" if item else None


def doc_returns(docstring: griffe.Docstring | None, package: str) -> str | None:
    """The class a docstring's returns section names first (`:return: A :py:class:`X <p.X>`
    instance …`), for functions without an annotation."""
    if docstring is None:
        return None
    section = _RETURNS.search(docstring.value)
    found = _CLASS_ROLE.search(section.group(1)) if section else None
    path = found.group(1) if found else ""
    return path if path.startswith(package + ".") else None


def lazy_target(member: griffe.Attribute, package: str) -> str | None:
    """The module `name = LazyLoader("pkg.x", globals(), "pkg.x")` loads on first use."""
    call = parse_call(str(member.value)) if member.value is not None else None
    if call is None:
        return None
    callee = call.func.attr if isinstance(call.func, ast.Attribute) else (
        call.func.id if isinstance(call.func, ast.Name) else "")
    if "lazy" not in callee.lower():
        return None
    texts = [a.value for a in call.args if isinstance(a, ast.Constant)
             and isinstance(a.value, str) and a.value.startswith(package + ".")]
    return texts[-1] if texts else None


def parse_call(text: str) -> ast.Call | None:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    return node if isinstance(node, ast.Call) else None


def first_text(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value,
                                                                         str):
        return call.args[0].value
    return None


def _texts(call: ast.Call) -> tuple[list[str], dict[str, str]]:
    args = [str(a.value) for a in call.args if isinstance(a, ast.Constant)]
    kwargs = {k.arg: str(k.value.value) for k in call.keywords
              if k.arg and isinstance(k.value, ast.Constant)}
    return args, kwargs


def _decorated(decorators: list[griffe.Decorator],
               name: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The constant arguments of each `@name(…)` (or `@x.name(…)`) decorator."""
    for decorator in decorators:
        text = str(decorator.value)
        if text.split("(")[0].rpartition(".")[2] == name:
            call = parse_call(text)
            yield _texts(call) if call else ([], {})


def decorator_deprecation(decorators: list[griffe.Decorator]) -> str | None:
    for args, kwargs in _decorated(decorators, "deprecated"):
        alternative = kwargs.get("alternative") or (args[0] if args else None)
        since = kwargs.get("since") or (args[1] if len(args) > 1 else None)
        words = ["deprecated"] + ([f"since {since}"] if since else [])
        return " ".join(words) + (f"; use {alternative}" if alternative else "")
    return None


def renamed_parameters(decorators: list[griffe.Decorator]) -> dict[str, str]:
    return {args[0]: f"deprecated; renamed to {args[1]}"
            for args, _ in _decorated(decorators, "deprecated_parameter") if len(args) >= 2}


_BRACKET = re.compile(r"^\s*\[Deprecated\b([^\]]*)\]", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^\s*\.\. deprecated::\s*(\S*)\s*$", re.MULTILINE)


def doc_deprecation(docstring: griffe.Docstring | None) -> str | None:
    """A `.. deprecated::` directive before any parameter documentation, or a docstring that
    opens with `[Deprecated, use X instead]`."""
    if docstring is None:
        return None
    bracket = _BRACKET.match(docstring.value)
    if bracket:
        note = bracket.group(1).strip(" ,:;")
        return "deprecated" + (f": {note}" if note else "")
    head = re.split(r"^\s*(?::param|Args:|Parameters\b)", docstring.value, maxsplit=1,
                    flags=re.MULTILINE)[0]
    found = _DIRECTIVE.search(head)
    if not found:
        return None
    after = head[found.end():].strip().splitlines()
    since = f" since {found.group(1)}" if found.group(1) else ""
    return f"deprecated{since}" + (f": {after[0].strip()}" if after else "")


_PARAM_LINE = re.compile(
    r"^\s*(?::param\s+(?:[\w\[\]., ]+\s+)?(?P<sphinx>\w+):|(?P<google>\w+)\s*(?:\([^)]*\))?:)"
    r"(?P<rest>.*)$")


def param_deprecations(doc: str) -> dict[str, str]:
    """Parameters a docstring declares deprecated (Google `name: Deprecated. …` or Sphinx
    `:param name:` followed by `.. deprecated:: VERSION`)."""
    found: dict[str, str] = {}
    lines = doc.splitlines()
    for index, line in enumerate(lines):
        match = _PARAM_LINE.match(line)
        if not match:
            continue
        name = match.group("sphinx") or match.group("google")
        rest = match.group("rest").strip()
        if re.match(r"\(?\**deprecated\b", rest, re.IGNORECASE):
            text = re.sub(r"^\(?\**deprecated\**\)?[.:]?\s*", "", rest, flags=re.IGNORECASE)
            found[name] = "deprecated" + (f": {text}" if text else "")
            continue
        if match.group("sphinx") and not rest:
            block = [x.strip() for x in lines[index + 1:index + 4]]
            directive = block[0] if block else ""
            if directive.startswith(".. deprecated::"):
                since = directive.removeprefix(".. deprecated::").strip()
                note = block[1] if len(block) > 1 else ""
                found[name] = (f"deprecated since {since}" if since else "deprecated") + (
                    f": {note}" if note else "")
    return found
