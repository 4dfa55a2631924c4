"""Where a team's code uses MLflow, read with `ast` (never run): imports (`import mlflow as
m`, `from mlflow.x import y as z`), attribute chains (`m.sklearn.log_model`), calls with their
keyword names and positional count, instances (`client = MlflowClient()`, `self.client = …`,
`client: MlflowClient`) and their method calls; and `mlflow …` commands in strings, argument
lists and shell-like files.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SHELL_FILES = ("*.sh", "*.bash", "Dockerfile*", "*.dockerfile", "Makefile", "*.mk", "*.yml",
               "*.yaml", "*.toml", "*.cfg", "*.ini", "Procfile")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build", "dist",
             ".mypy_cache", ".ruff_cache", "site-packages"}
_COMMAND = re.compile(r"\bmlflow((?:\s+[a-z][a-z0-9-]*){1,2})")


@dataclass(frozen=True)
class Use:
    """One use: `api` is the dotted path (or `mlflow <command>` for a command)."""

    file: str
    line: int
    api: str
    kind: str  # import | reference | call | command
    keywords: tuple[str, ...] = ()
    positional: int = 0
    bound: bool = False  # called on an instance (self is supplied)
    partial: bool = False  # only some of the call's arguments are known (through **kwargs)


@dataclass(frozen=True)
class _Binding:
    path: str
    instance: bool = False
    # A team function that passes its **kwargs on to `path`: the keywords a caller gives it,
    # less its own named parameters (`own`), reach MLflow.
    forward: bool = False
    own: frozenset[str] = frozenset()
    returns: bool = False  # a team function that returns an instance of `path`

    @property
    def team(self) -> bool:
        """The team's own function (not an MLflow name): calling it is not an MLflow call."""
        return self.forward or self.returns


@dataclass
class _Scope:
    names: dict[str, _Binding] = field(default_factory=dict)
    selfattrs: dict[str, _Binding] = field(default_factory=dict)
    dict_keys: dict[str, set[str]] = field(default_factory=dict)  # kwargs dicts' known keys


class _Finder(ast.NodeVisitor):
    def __init__(self, file: str, package: str) -> None:
        self.file = file
        self.package = package
        self.scopes: list[_Scope] = [_Scope()]
        self.uses: list[Use] = []

    # -- names ----------------------------------------------------------------------------

    def lookup(self, name: str) -> _Binding | None:
        for scope in reversed(self.scopes):
            if name in scope.names:
                return scope.names[name]
        return None

    def bind(self, name: str, binding: _Binding | None) -> None:
        if binding is None:
            self.scopes[-1].names.pop(name, None)
        else:
            self.scopes[-1].names[name] = binding

    def resolve(self, node: ast.expr) -> _Binding | None:
        """The MLflow path (or instance of one) an expression names, if any."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                for scope in reversed(self.scopes):
                    if node.attr in scope.selfattrs:
                        return scope.selfattrs[node.attr]
                return None
            base = self.resolve(node.value)
            if base is None or base.team:
                return None
            return _Binding(f"{base.path}.{node.attr}")
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func)
            if callee is None or callee.forward or callee.instance:
                return None
            return _Binding(callee.path, instance=True) if callee.returns or \
                _classlike(callee.path) else None
        return None

    # -- imports --------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name != self.package and not alias.name.startswith(self.package + "."):
                continue
            self.use(node, alias.name, "import")
            if alias.asname:
                self.bind(alias.asname, _Binding(alias.name))
            else:
                self.bind(self.package, _Binding(self.package))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not (module == self.package or module.startswith(self.package + ".")):
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            path = f"{module}.{alias.name}"
            self.use(node, path, "import")
            self.bind(alias.asname or alias.name, _Binding(path))

    # -- uses -----------------------------------------------------------------------------

    def use(self, node: ast.AST, api: str, kind: str, call: ast.Call | None = None,
            bound: bool = False) -> None:
        keywords: list[str] = []
        partial = False
        for keyword in call.keywords if call else ():
            if keyword.arg:
                keywords.append(keyword.arg)
            elif isinstance(keyword.value, ast.Name) and keyword.value.id in self._dicts():
                keywords += sorted(self._dicts()[keyword.value.id])  # `**kwargs` we can read
                partial = True
            else:
                partial = True  # `**something` whose keys are unknown
        positional = sum(1 for a in call.args if not isinstance(a, ast.Starred)) if call else 0
        partial = partial or any(isinstance(a, ast.Starred) for a in (call.args if call else []))
        self.uses.append(Use(self.file, getattr(node, "lineno", 0), api, kind,
                             tuple(dict.fromkeys(keywords)), positional, bound, partial))

    def _dicts(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for scope in self.scopes:
            found.update(scope.dict_keys)
        return found

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        target = self.resolve(func)
        if target is not None and target.forward:
            passed = tuple(k.arg for k in node.keywords if k.arg and k.arg not in target.own)
            if passed:
                self.uses.append(Use(self.file, node.lineno, target.path, "call", passed,
                                     partial=True))
        elif target is not None and not target.instance and not target.returns:
            bound = isinstance(func, ast.Attribute) and bool(
                (owner := self.resolve(func.value)) and owner.instance)
            self.use(node, target.path, "call", node, bound)
            if isinstance(func, ast.Attribute):
                self._visit_inner(func.value)
        else:
            self.visit(func)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.visit(arg)
        self._command_list(node)

    def _visit_inner(self, node: ast.expr) -> None:
        """Inside a resolved chain only calls (`mlflow.MlflowClient().x`) are uses."""
        while isinstance(node, ast.Attribute):
            node = node.value
        if isinstance(node, ast.Call):
            self.visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        target = self.resolve(node)
        if target is None:
            self.generic_visit(node)
            return
        owner = self.resolve(node.value)
        self.use(node, target.path, "reference", bound=bool(owner and owner.instance))
        self._visit_inner(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            target = self.lookup(node.id)
            if target is not None and not target.instance and not target.team \
                    and target.path != self.package:
                self.use(node, target.path, "reference")

    # -- bindings -------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        value = self.resolve(node.value)
        for target in node.targets:
            self._assign(target, value)
            self._dict_keys(target, node.value)

    def _dict_keys(self, target: ast.expr, value: ast.expr) -> None:
        """`kwargs = {"name": …}`, `kwargs = dict(name=…)`, `kwargs["name"] = …`: keys a later
        `f(**kwargs)` passes (flow-insensitive: a key set anywhere counts)."""
        keys = self.scopes[-1].dict_keys
        if isinstance(target, ast.Name):
            if isinstance(value, ast.Dict):
                keys[target.id] = {k.value for k in value.keys
                                   if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                    and value.func.id == "dict":
                keys[target.id] = {k.arg for k in value.keywords if k.arg}
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                and isinstance(target.slice, ast.Constant) and isinstance(target.slice.value,
                                                                         str):
            keys.setdefault(target.value.id, set()).add(target.slice.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        annotated = self.resolve(node.annotation)
        value = _Binding(annotated.path, True) if annotated else (
            self.resolve(node.value) if node.value is not None else None)
        self._assign(node.target, value)

    def _assign(self, target: ast.expr, value: _Binding | None) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                and target.value.id == "self" and value is not None:
            self.scopes[-1].selfattrs[target.attr] = value

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._assign(item.optional_vars, None)
        for statement in node.body:
            self.visit(statement)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
            self.visit(default)
        scope = _Scope(selfattrs=dict(self.scopes[-1].selfattrs))
        self.scopes.append(scope)
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            annotated = self.resolve(arg.annotation) if arg.annotation else None
            self.bind(arg.arg, _Binding(annotated.path, True) if annotated else None)
        for statement in node.body:
            self.visit(statement)
        made = self._forwarded(node) or self._returned(node)
        self.scopes.pop()
        self.bind(node.name, made)

    def _returned(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> _Binding | None:
        """`def connect(uri): return MlflowClient(uri)`: the MLflow class every `return` of
        this function (not of functions inside it) gives an instance of."""
        found: set[str] = set()
        pending: list[ast.AST] = list(node.body)
        while pending:
            item = pending.pop()
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                          | ast.Lambda):
                continue
            if isinstance(item, ast.Return):
                value = self.resolve(item.value) if item.value is not None else None
                if value is None or not value.instance:
                    return None
                found.add(value.path)
            pending.extend(ast.iter_child_nodes(item))
        return _Binding(found.pop(), returns=True) if len(found) == 1 else None

    def _forwarded(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> _Binding | None:
        """`def evaluate(uri, **extra): return mlflow.evaluate(uri, data, **extra)`: the
        MLflow call this function hands its **kwargs to (resolved in its own scope)."""
        if node.args.kwarg is None:
            return None
        name = node.args.kwarg.arg
        own = frozenset(a.arg for a in [*node.args.posonlyargs, *node.args.args,
                                        *node.args.kwonlyargs])
        for inner in ast.walk(node):
            if isinstance(inner, ast.Call) and any(
                    k.arg is None and isinstance(k.value, ast.Name) and k.value.id == name
                    for k in inner.keywords):
                target = self.resolve(inner.func)
                if target is not None and not target.instance and not target.team:
                    return _Binding(target.path, forward=True, own=own)
        return None

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 (ast.NodeVisitor's naming)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.bases, *node.decorator_list]:
            self.visit(expr)
        scope = _Scope()
        self.scopes.append(scope)
        # self.<attr> assigned in any method is known in every method (flow-insensitive).
        for method in node.body:
            if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                for statement in ast.walk(method):
                    if isinstance(statement, ast.Assign):
                        value = self.resolve(statement.value)
                        for target in statement.targets:
                            self._assign(target, value)
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    # -- commands in strings --------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for command in commands_in(node.value, self.package):
                self.uses.append(Use(self.file, node.lineno, command, "command"))

    def _command_list(self, node: ast.Call) -> None:
        """`subprocess.run(["mlflow", "deployments", "start-server", …])`."""
        for arg in node.args[:1]:
            if isinstance(arg, ast.List | ast.Tuple) and arg.elts:
                words = [e.value for e in arg.elts[:3]
                         if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if words and words[0] == self.package and len(words) > 1:
                    self.uses.append(Use(self.file, node.lineno, " ".join(words), "command"))


def _classlike(path: str) -> bool:
    return path.rpartition(".")[2][:1].isupper()


def commands_in(text: str, package: str = "mlflow") -> list[str]:
    """`mlflow <group> <command>` spellings in a line of text (both words kept: the caller
    matches the longest the surface knows)."""
    if package != "mlflow":
        return []
    return [f"mlflow{m.group(1)}".split("#")[0].strip() for m in _COMMAND.finditer(text)]


def python_uses(source: str, file: str, package: str = "mlflow") -> list[Use]:
    """Every use of `package` in one Python source (a syntax error gives none)."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError:
        return []
    finder = _Finder(file, package)
    finder.visit(tree)
    return finder.uses


def text_uses(text: str, file: str, package: str = "mlflow") -> list[Use]:
    """`mlflow …` commands in a shell script, Dockerfile, CI file or config."""
    return [Use(file, number, command, "command")
            for number, line in enumerate(text.splitlines(), 1)
            if not line.lstrip().startswith("#") or line.lstrip().startswith("#!")
            for command in commands_in(line, package)]


def files(root: Path) -> Iterator[Path]:
    """Python sources and shell-like files under `root` (a file is itself)."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        if path.suffix == ".py" or any(path.match(p) for p in SHELL_FILES):
            yield path


def find_uses(root: Path, package: str = "mlflow", base: Path | None = None) -> list[Use]:
    """Every use under `root`; files are named relative to `base` (default: `root`, or its
    folder for a file)."""
    base = base or (root.parent if root.is_file() else root)
    found: list[Use] = []
    for path in files(root):
        text = path.read_text(errors="replace")
        name = str(path.relative_to(base))
        found.extend(python_uses(text, name, package) if path.suffix == ".py"
                     else text_uses(text, name, package))
    return found
