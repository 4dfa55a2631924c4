"""A version's API surface, read by griffe from its environment's site-packages *statically*
(the source is parsed, never imported: the harness process never imports MLflow), cached as
JSON under the cache folder by the environment's digest.

Declared deprecations are read where MLflow declares them: `@deprecated(since=…,
alternative=…)` and `@deprecated_parameter(old, new)` decorators, `.. deprecated::` in a
docstring, and a parameter documented as `name: Deprecated. …` or `:param name: ..
deprecated:: …`.
"""

from __future__ import annotations

import ast
import logging
import re
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import griffe

from harness.errors import EnvironmentBuildError
from harness.scan.surface import (
    KEYWORD_ONLY,
    POSITIONAL_ONLY,
    POSITIONAL_OR_KEYWORD,
    SURFACE_FORMAT,
    VAR_KEYWORD,
    VAR_POSITIONAL,
    ApiObject,
    Param,
    Surface,
)

_KINDS = {
    griffe.ParameterKind.positional_only: POSITIONAL_ONLY,
    griffe.ParameterKind.positional_or_keyword: POSITIONAL_OR_KEYWORD,
    griffe.ParameterKind.var_positional: VAR_POSITIONAL,
    griffe.ParameterKind.keyword_only: KEYWORD_ONLY,
    griffe.ParameterKind.var_keyword: VAR_KEYWORD,
}


@dataclass(frozen=True)
class SurfaceTiming:
    surface: Surface
    seconds: float
    cached: bool


def site_packages(env_path: Path) -> Path:
    """The site-packages folder of a virtualenv."""
    found = sorted(env_path.glob("lib/python*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages under {env_path}")
    return found[0]


def cache_path(cache_dir: Path, env_digest: str) -> Path:
    name = f"{env_digest}-f{SURFACE_FORMAT}-griffe{package_version('griffe')}.json"
    return cache_dir / "api-surfaces" / name


def surface_for_env(env_path: Path, env_digest: str, version: str, cache_dir: Path,
                    package: str = "mlflow") -> SurfaceTiming:
    """The environment's API surface: from the cache, or extracted (and cached)."""
    started = time.monotonic()
    cached = cache_path(cache_dir, env_digest)
    if cached.is_file():
        try:
            return SurfaceTiming(Surface.load(cached), time.monotonic() - started, True)
        except (ValueError, KeyError, TypeError):
            cached.unlink()  # an unreadable cache entry is rebuilt
    try:
        surface = extract(site_packages(env_path), package, version)
    except (OSError, ImportError, griffe.GriffeError) as error:
        raise EnvironmentBuildError(f"cannot read {package} {version}'s API from {env_path}: "
                                    f"{error}") from None
    surface.env_digest = env_digest
    surface.save(cached)
    return SurfaceTiming(surface, time.monotonic() - started, False)


def extract(search_path: Path, package: str, version: str) -> Surface:
    """Load `package` from `search_path` with griffe (static analysis only) into a surface."""
    logging.getLogger("griffe").setLevel(logging.CRITICAL)  # unparsable annotations are noise
    loader = griffe.GriffeLoader(search_paths=[str(search_path)], allow_inspection=False)
    root = loader.load(package)
    surface = Surface(package=package, version=version)
    walker = _Walker(surface, package, search_path)
    assert isinstance(root, griffe.Module)
    walker.module(root)
    walker.finish_cli()
    return surface


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Walker:
    def __init__(self, surface: Surface, package: str, root: Path) -> None:
        self.surface = surface
        self.package = package
        self.root = root
        self.groups: dict[tuple[str, str], str] = {}  # (module, function) → click group name
        self.commands: list[tuple[str, str, str, str]] = []  # module, owner, name, path

    def _where(self, obj: griffe.Object) -> tuple[str, int]:
        try:
            file = str(Path(str(obj.filepath)).relative_to(self.root))
        except ValueError:
            file = str(obj.filepath)
        return file, int(obj.lineno or 0)

    def module(self, module: griffe.Module) -> None:
        file, _ = self._where(module)
        self.surface.objects[module.path] = ApiObject(
            kind="module", deprecated=_doc_deprecation(module.docstring), file=file)
        self.members(module)

    def members(self, owner: griffe.Module | griffe.Class) -> None:
        for name, member in list(owner.members.items()):
            if _private(name) or (name.startswith("__") and not (owner.is_class
                                                                   and name == "__init__")):
                continue
            path = f"{owner.path}.{name}"
            if isinstance(member, griffe.Alias):
                target = member.target_path
                if target.startswith(self.package + ".") or target == self.package:
                    self.surface.objects[path] = ApiObject(kind="alias", target=target)
            elif isinstance(member, griffe.Module):
                self.module(member)
            elif isinstance(member, griffe.Class):
                self.klass(member)
            elif isinstance(member, griffe.Function):
                self.function(member, owner)
            elif isinstance(member, griffe.Attribute):
                file, line = self._where(member)
                self.surface.objects[path] = ApiObject(kind="attribute", file=file, line=line)

    def klass(self, cls: griffe.Class) -> None:
        file, line = self._where(cls)
        bases = tuple(str(getattr(b, "canonical_path", b)) for b in cls.bases)
        deprecated = _decorator_deprecation(cls.decorators) or _doc_deprecation(cls.docstring)
        self.surface.objects[cls.path] = ApiObject(
            kind="class", bases=bases, deprecated=deprecated, file=file, line=line)
        self.members(cls)
        init = self.surface.objects.get(f"{cls.path}.__init__")
        if init is not None and init.params is not None and cls.docstring is not None:
            documented = _param_deprecations(cls.docstring.value)  # params documented on the class
            if documented:
                params = tuple(p if p.deprecated or p.name not in documented else
                               Param(p.name, p.kind, p.required, documented[p.name])
                               for p in init.params)
                self.surface.objects[f"{cls.path}.__init__"] = ApiObject(
                    kind="function", params=params, method=init.method, file=init.file,
                    line=init.line, deprecated=init.deprecated)

    def function(self, func: griffe.Function, owner: griffe.Module | griffe.Class) -> None:
        file, line = self._where(func)
        labels = func.labels
        if "property" in labels:
            self.surface.objects[func.path] = ApiObject(kind="attribute", file=file, line=line)
            return
        method = None
        if owner.is_class:
            method = ("static" if "staticmethod" in labels else
                      "class" if "classmethod" in labels else "instance")
        documented = _param_deprecations(func.docstring.value) if func.docstring else {}
        renamed = _renamed_parameters(func.decorators)
        params = tuple(
            Param(
                name=p.name,
                kind=_KINDS[p.kind] if p.kind is not None else POSITIONAL_OR_KEYWORD,
                required=p.default is None and p.kind not in (
                    griffe.ParameterKind.var_positional, griffe.ParameterKind.var_keyword),
                deprecated=renamed.get(p.name) or documented.get(p.name),
            )
            for p in func.parameters
        )
        named = {p.name for p in params}
        params += tuple(Param(old, KEYWORD_ONLY, False, note)  # accepted by the decorator
                        for old, note in renamed.items() if old not in named)
        deprecated = _decorator_deprecation(func.decorators) or _doc_deprecation(func.docstring)
        self.surface.objects[func.path] = ApiObject(
            kind="function", params=params, method=method, deprecated=deprecated, file=file,
            line=line, target=_wrapped(func, owner))
        if owner.is_module:
            self._click(func, owner.path)

    # -- command line ----------------------------------------------------------------------

    def _click(self, func: griffe.Function, module: str) -> None:
        for decorator in func.decorators:
            call = _parse_call(str(decorator.value))
            if call is None or not isinstance(call.func, ast.Attribute):
                continue
            what, owner = call.func.attr, call.func.value
            if what not in ("command", "group") or not isinstance(owner, ast.Name):
                continue
            name = _first_text(call) or func.name.replace("_", "-")
            if what == "group":
                self.groups[(module, func.name)] = name
            if owner.id != "click":
                self.commands.append((module, owner.id, name, func.path))

    def finish_cli(self) -> None:
        for module, owner, name, path in self.commands:
            group = self.groups.get((module, owner))
            if group is None:
                continue
            root = module in (f"{self.package}.cli", f"{self.package}.cli.__init__") \
                and owner == "cli"
            prefix = self.package if root else f"{self.package} {group}"
            self.surface.cli[f"{prefix} {name}"] = path


def _wrapped(func: griffe.Function, owner: griffe.Module | griffe.Class) -> str | None:
    """The function a `@functools.wraps(f)` wrapper stands for (its signature is f's)."""
    for decorator in func.decorators:
        call = _parse_call(str(decorator.value))
        if call is None or not call.args or not isinstance(call.args[0], ast.Name):
            continue
        callee = call.func.attr if isinstance(call.func, ast.Attribute) else (
            call.func.id if isinstance(call.func, ast.Name) else "")
        if callee != "wraps":
            continue
        named = owner.members.get(call.args[0].id)
        if named is None:
            return None
        return named.target_path if isinstance(named, griffe.Alias) else named.path
    return None


def _parse_call(text: str) -> ast.Call | None:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    return node if isinstance(node, ast.Call) else None


def _first_text(call: ast.Call) -> str | None:
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


def _decorator_deprecation(decorators: list[griffe.Decorator]) -> str | None:
    for decorator in decorators:
        text = str(decorator.value)
        if text.split("(")[0].rpartition(".")[2] != "deprecated":
            continue
        call = _parse_call(text)
        args, kwargs = _texts(call) if call else ([], {})
        alternative = kwargs.get("alternative") or (args[0] if args else None)
        since = kwargs.get("since") or (args[1] if len(args) > 1 else None)
        words = ["deprecated"] + ([f"since {since}"] if since else [])
        return " ".join(words) + (f"; use {alternative}" if alternative else "")
    return None


def _renamed_parameters(decorators: list[griffe.Decorator]) -> dict[str, str]:
    renamed = {}
    for decorator in decorators:
        text = str(decorator.value)
        if text.split("(")[0].rpartition(".")[2] != "deprecated_parameter":
            continue
        call = _parse_call(text)
        args, _ = _texts(call) if call else ([], {})
        if len(args) >= 2:
            renamed[args[0]] = f"deprecated; renamed to {args[1]}"
    return renamed


_DIRECTIVE = re.compile(r"^\s*\.\. deprecated::\s*(\S*)\s*$", re.MULTILINE)


def _doc_deprecation(docstring: griffe.Docstring | None) -> str | None:
    """A `.. deprecated::` directive before any parameter documentation."""
    if docstring is None:
        return None
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


def _param_deprecations(doc: str) -> dict[str, str]:
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
