"""A version's API surface, read by griffe from its environment's site-packages *statically*
(the source is parsed, never imported: the harness process never imports MLflow), cached as
JSON under the cache folder by the environment's digest.

Declared deprecations and types are read as `harness/scan/declared.py` says.

What exists is what the environment's files hold: a module is one griffe found a file for; a
name bound to a lazy loader (`llm = LazyLoader("mlflow.llm", …)`) is an alias of the module it
loads when that module exists and an attribute otherwise. The types functions and properties
give come from their annotations, or from a docstring's returns section naming one class
(`:return: A :py:class:`ModelInfo <mlflow.models.model.ModelInfo>` instance`). Private base
classes inside the package (`_MlflowObject`) are read too, so their subclasses' members can be
judged absent.
"""

from __future__ import annotations

import ast
import logging
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import griffe

from harness.errors import EnvironmentBuildError
from harness.scan.declared import (
    decorator_deprecation,
    doc_deprecation,
    doc_returns,
    first_text,
    lazy_target,
    param_deprecations,
    parse_call,
    renamed_parameters,
    type_text,
)
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
    assert isinstance(root, griffe.Module)
    walker = _Walker(surface, package, search_path, root)
    walker.module(root)
    walker.private_bases()
    walker.finish_cli()
    _lazy_loaders(surface)
    return surface


def _lazy_loaders(surface: Surface) -> None:
    """A lazy loader of a module that exists is an alias of it; of one that does not, it stays
    an attribute (first use raises ModuleNotFoundError)."""
    for path, obj in list(surface.objects.items()):
        if obj.kind == "attribute" and obj.target:
            loaded = surface.objects.get(obj.target)
            if loaded is not None and loaded.kind == "module":
                surface.objects[path] = ApiObject(kind="alias", target=obj.target)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Walker:
    def __init__(self, surface: Surface, package: str, root: Path,
                 top: griffe.Module) -> None:
        self.surface = surface
        self.package = package
        self.root = root
        self.top = top
        self.pending: list[str] = []  # private base classes inside the package, to read
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
            kind="module", deprecated=doc_deprecation(module.docstring), file=file)
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
                self.attribute(member, path)

    def attribute(self, member: griffe.Attribute, path: str) -> None:
        file, line = self._where(member)
        deprecated = doc_deprecation(member.docstring) if "property" in member.labels \
            else None
        self.surface.objects[path] = ApiObject(
            kind="attribute", file=file, line=line, deprecated=deprecated,
            returns=type_text(member.annotation, self.package),
            target=lazy_target(member, self.package))

    def klass(self, cls: griffe.Class) -> None:
        file, line = self._where(cls)
        bases = tuple(str(getattr(b, "canonical_path", b)) for b in cls.bases)
        self.pending += [b for b in bases if b.startswith(self.package + ".")
                         and any(part.startswith("_") for part in b.split("."))]
        deprecated = decorator_deprecation(cls.decorators) or doc_deprecation(cls.docstring)
        self.surface.objects[cls.path] = ApiObject(
            kind="class", bases=bases, deprecated=deprecated, file=file, line=line,
            dynamic="__getattr__" in cls.members)
        self.members(cls)
        init = self.surface.objects.get(f"{cls.path}.__init__")
        if init is not None and init.params is not None and cls.docstring is not None:
            documented = param_deprecations(cls.docstring.value)  # params documented on the class
            if documented:
                params = tuple(p if p.deprecated or p.name not in documented else
                               Param(p.name, p.kind, p.required, documented[p.name])
                               for p in init.params)
                self.surface.objects[f"{cls.path}.__init__"] = ApiObject(
                    kind="function", params=params, method=init.method, file=init.file,
                    line=init.line, deprecated=init.deprecated)

    def private_bases(self) -> None:
        """Read the private base classes inside the package that public classes name (their
        public members are inherited), under their own paths."""
        while self.pending:
            path = self.pending.pop()
            if path in self.surface.objects:
                continue
            try:
                found = self.top[path.removeprefix(self.package + ".")]
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            if isinstance(found, griffe.Alias):
                try:
                    found = found.final_target
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    continue
            if isinstance(found, griffe.Class):
                self.klass(found)
                if found.path != path:
                    self.surface.objects[path] = ApiObject(kind="alias", target=found.path)

    def function(self, func: griffe.Function, owner: griffe.Module | griffe.Class) -> None:
        file, line = self._where(func)
        labels = func.labels
        returns = type_text(func.returns, self.package) or doc_returns(func.docstring,
                                                                           self.package)
        if "property" in labels:
            self.surface.objects[func.path] = ApiObject(
                kind="attribute", file=file, line=line, returns=returns,
                deprecated=doc_deprecation(func.docstring))
            return
        method = None
        if owner.is_class:
            method = ("static" if "staticmethod" in labels else
                      "class" if "classmethod" in labels else "instance")
        documented = param_deprecations(func.docstring.value) if func.docstring else {}
        renamed = renamed_parameters(func.decorators)
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
        deprecated = decorator_deprecation(func.decorators) or doc_deprecation(func.docstring)
        self.surface.objects[func.path] = ApiObject(
            kind="function", params=params, method=method, deprecated=deprecated, file=file,
            line=line, target=_wrapped(func, owner), returns=returns)
        if owner.is_module:
            self._click(func, owner.path)

    # -- command line ----------------------------------------------------------------------

    def _click(self, func: griffe.Function, module: str) -> None:
        for decorator in func.decorators:
            call = parse_call(str(decorator.value))
            if call is None or not isinstance(call.func, ast.Attribute):
                continue
            what, owner = call.func.attr, call.func.value
            if what not in ("command", "group") or not isinstance(owner, ast.Name):
                continue
            name = first_text(call) or func.name.replace("_", "-")
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
        call = parse_call(str(decorator.value))
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
