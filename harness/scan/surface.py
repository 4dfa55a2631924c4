"""One MLflow version's public API as plain data: objects by dotted path, their parameters,
what each version declares deprecated, and the command-line commands.

A surface is JSON (cached per environment) and is looked up by the paths a team's code
spells: aliases (`mlflow.evaluate` → `mlflow.models.evaluation.base.evaluate`) and members
inherited from a base class are followed. A module is an object of kind `module` only when its
file exists in the environment: a name that merely mentions a module (a lazy loader of one that
is gone, `mlflow.llm = LazyLoader("mlflow.llm", …)` in 3.4.0) is an attribute.

Functions and attributes carry the type they give (`returns`: a class path, or `outer[item]`
for a container of one), read from annotations or, failing those, from the docstring's
returns section: a value a team's code got from MLflow is followed through them
(`harness/scan/values.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SURFACE_FORMAT = 2

# Parameter kinds, as inspect names them.
POSITIONAL_ONLY = "positional-only"
POSITIONAL_OR_KEYWORD = "positional-or-keyword"
VAR_POSITIONAL = "var-positional"
KEYWORD_ONLY = "keyword-only"
VAR_KEYWORD = "var-keyword"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool
    deprecated: str | None = None  # what the version says about it, when it declares it

    @property
    def positional(self) -> bool:
        return self.kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD)

    @property
    def by_keyword(self) -> bool:
        return self.kind in (POSITIONAL_OR_KEYWORD, KEYWORD_ONLY)


@dataclass(frozen=True)
class ApiObject:
    """A module, class, function, attribute, or an alias (a re-export) of one."""

    kind: str  # module | class | function | attribute | alias
    # alias: the path it re-exports; function: the one it wraps; attribute: the module a lazy
    # loader would import (one that does not exist: an existing one makes the name an alias)
    target: str | None = None
    params: tuple[Param, ...] | None = None  # function: its parameters (self included)
    method: str | None = None  # function in a class: instance | class | static
    bases: tuple[str, ...] = ()  # class: base classes by path
    deprecated: str | None = None  # what the version declares ("since 3.0.0; use X")
    file: str = ""  # source file relative to site-packages
    line: int = 0
    returns: str | None = None  # function, attribute: the type it gives ("pkg.C", "list[pkg.C]")
    dynamic: bool = False  # class: defines __getattr__ (its members cannot be judged absent)


@dataclass
class Surface:
    package: str
    version: str
    objects: dict[str, ApiObject] = field(default_factory=dict)
    cli: dict[str, str] = field(default_factory=dict)  # "mlflow deployments start-server" → path
    env_digest: str = ""
    _by_name: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    # -- lookups ---------------------------------------------------------------------------

    def resolve(self, path: str, _depth: int = 0) -> tuple[str, ApiObject] | None:
        """The object a dotted path names, following aliases and class inheritance; None when
        the surface has no such object."""
        if _depth > 20:
            return None
        found = self.objects.get(path)
        if found is not None:
            if found.kind == "alias" and found.target:
                target = self.resolve(found.target, _depth + 1)
                return target if target is not None else (path, found)
            return path, found
        parent_path, _, name = path.rpartition(".")
        if not parent_path:
            return None
        parent = self.resolve(parent_path, _depth + 1)
        if parent is None or parent[0] == parent_path:
            return self._inherited(parent, name, _depth) if parent else None
        return self.resolve(f"{parent[0]}.{name}", _depth + 1)

    def _inherited(self, parent: tuple[str, ApiObject], name: str,
                   depth: int) -> tuple[str, ApiObject] | None:
        path, obj = parent
        if obj.kind != "class":
            return None
        for base in obj.bases:
            found = self.resolve(f"{base}.{name}", depth + 1)
            if found is not None:
                return found
        return None

    def judgeable(self, path: str) -> bool:
        """Whether the surface can say a name is absent: its parent is a module, or a class
        whose bases are all in the surface (a member may come from an outside base)."""
        parent_path = path.rpartition(".")[0]
        parent = self.resolve(parent_path) if parent_path else None
        if parent is None:
            return False
        obj = parent[1]
        if obj.kind == "module":
            return True
        return obj.kind == "class" and self.closed(parent[0])

    def closed(self, path: str) -> bool:
        """Whether a class's members are all known: its bases are in the surface (or `object`)
        and neither it nor a base answers unknown names (`__getattr__`)."""
        found = self.resolve(path)
        if found is None or found[1].kind != "class":
            return False
        return all(b in ("object", "builtins.object") or self.resolve(b) is not None
                   for b in found[1].bases) and not self._dynamic(found[0], 0)

    def _dynamic(self, path: str, depth: int) -> bool:
        found = self.resolve(path) if depth < 20 else None
        if found is None or found[1].kind != "class":
            return False
        return found[1].dynamic or any(self._dynamic(b, depth + 1) for b in found[1].bases)

    def is_module(self, path: str) -> bool:
        """Whether `path` names a module that exists (aliases followed)."""
        found = self.resolve(path)
        return found is not None and found[1].kind == "module"

    def callable_params(self, path: str) -> tuple[str, tuple[Param, ...], bool] | None:
        """(canonical path, parameters a caller passes, bound) for a function or a class (its
        __init__); `bound` says the first parameter (self/cls) is supplied by Python."""
        found = self.resolve(path)
        if found is None:
            return None
        canonical, obj = found
        if obj.kind == "class":
            init = self.resolve(f"{canonical}.__init__")
            if init is None or init[1].params is None:
                return None
            return canonical, init[1].params, True
        if obj.kind == "function" and obj.params is not None:
            variadic = all(p.kind in (VAR_POSITIONAL, VAR_KEYWORD) for p in obj.params)
            if obj.target and variadic and obj.target != canonical:  # @functools.wraps(f)
                wrapped = self.callable_params(obj.target)
                if wrapped is not None:
                    return canonical, wrapped[1], wrapped[2]
            return canonical, obj.params, obj.method in ("instance", "class")
        return None

    def by_name(self, name: str) -> list[str]:
        """Paths of non-alias objects whose last component is `name`."""
        if self._by_name is None:
            index: dict[str, list[str]] = {}
            for path, obj in self.objects.items():
                if obj.kind != "alias":
                    index.setdefault(path.rpartition(".")[2], []).append(path)
            self._by_name = index
        return self._by_name.get(name, [])

    # -- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        objects = {}
        for path, obj in self.objects.items():
            raw = {k: v for k, v in asdict(obj).items() if v not in (None, (), [], "", 0)}
            if obj.params is not None:
                raw["params"] = [{k: v for k, v in asdict(p).items() if v is not None}
                                 for p in obj.params]
            objects[path] = raw
        return {"format": SURFACE_FORMAT, "package": self.package, "version": self.version,
                "env_digest": self.env_digest, "cli": self.cli, "objects": objects}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Surface:
        if data.get("format") != SURFACE_FORMAT:
            raise ValueError(f"unknown API surface format {data.get('format')!r}")
        objects = {}
        for path, raw in data["objects"].items():
            params = raw.get("params")
            objects[path] = ApiObject(
                kind=raw["kind"], target=raw.get("target"),
                params=None if params is None else tuple(Param(**p) for p in params),
                method=raw.get("method"), bases=tuple(raw.get("bases", ())),
                deprecated=raw.get("deprecated"), file=raw.get("file", ""),
                line=int(raw.get("line", 0)), returns=raw.get("returns"),
                dynamic=bool(raw.get("dynamic", False)))
        return cls(package=data["package"], version=data["version"], objects=objects,
                   cli=dict(data.get("cli", {})), env_digest=data.get("env_digest", ""))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), sort_keys=True))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Surface:
        return cls.from_dict(json.loads(path.read_text()))
