"""Where a team's code uses MLflow, read with `ast` (never run): imports (`import mlflow as
m`, `from mlflow.x import y as z`), attribute chains (`m.sklearn.log_model`), calls with their
keyword names and positional count, instances (`client = MlflowClient()`, `self.client = …`,
`client: MlflowClient`) and their method calls; and `mlflow …` commands in strings, argument
lists and shell-like files.

Values the code gets from MLflow are followed (`run = client.get_run(…)`, `for v in
client.search_model_versions(…)`, `with mlflow.start_run() as run`, an item, a team function
in the module returning one): what is read of them is a use of kind `read`, the API the value
came from and the steps taken since (`run.info.run_uuid`: `MlflowClient.get_run`, then `()`,
`info`, `run_uuid`). The surfaces' types tell what those steps reach (`values.py`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from harness.scan.bindings import COMPARED, Binding, Names, Scope, instance, reads

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
    kind: str  # import | reference | call | command | read
    keywords: tuple[str, ...] = ()
    positional: int = 0
    bound: bool = False  # called on an instance (self is supplied)
    partial: bool = False  # only some of the call's arguments are known (through **kwargs)
    # kind "read": what was done to a value from MLflow since `api` made it (a call, CALL) or
    # since it was an instance of `api` (a class): CALL, ITEM, COMPARED or an attribute name.
    steps: tuple[str, ...] = ()
    origin: int = 0  # kind "read": the line of the MLflow call that made the value (0: unknown)
    origin_api: str = ""  # and that call's API


class _Finder(Names, ast.NodeVisitor):
    def __init__(self, file: str, package: str, tree: ast.AST) -> None:
        super().__init__()
        self.file = file
        self.package = package
        self.uses: list[Use] = []
        self.parents = {id(child): node for node in ast.walk(tree)
                        for child in ast.iter_child_nodes(node)}


    def read(self, node: ast.expr, value: Binding) -> None:
        """A value from MLflow read at `node`, named once, by the outermost expression."""
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.Attribute | ast.Subscript) and parent.value is node or \
                isinstance(parent, ast.Call) and parent.func is node:
            return
        steps = (*value.steps, COMPARED) if isinstance(parent, ast.Compare) else value.steps
        if reads(steps):
            self.uses.append(Use(self.file, getattr(node, "lineno", 0), value.root, "read",
                                 steps=steps, origin=value.origin,
                                 origin_api=value.origin_api))

    # -- imports --------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name != self.package and not alias.name.startswith(self.package + "."):
                continue
            self.use(node, alias.name, "import")
            if alias.asname:
                self.bind(alias.asname, Binding(alias.name))
            else:
                self.bind(self.package, Binding(self.package))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not (module == self.package or module.startswith(self.package + ".")):
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            path = f"{module}.{alias.name}"
            self.use(node, path, "import")
            self.bind(alias.asname or alias.name, Binding(path))

    # -- uses -----------------------------------------------------------------------------

    def use(self, node: ast.AST, api: str, kind: str, call: ast.Call | None = None,
            bound: bool = False) -> None:
        keywords: list[str] = []
        partial = False
        for keyword in call.keywords if call else ():
            if keyword.arg:
                keywords.append(keyword.arg)
            elif isinstance(keyword.value, ast.Name) and keyword.value.id in self.dicts():
                keywords += sorted(self.dicts()[keyword.value.id])  # `**kwargs` we can read
                partial = True
            else:
                partial = True  # `**something` whose keys are unknown
        positional = sum(1 for a in call.args if not isinstance(a, ast.Starred)) if call else 0
        partial = partial or any(isinstance(a, ast.Starred) for a in (call.args if call else []))
        self.uses.append(Use(self.file, getattr(node, "lineno", 0), api, kind,
                             tuple(dict.fromkeys(keywords)), positional, bound, partial))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        target = self.resolve(func)
        if target is not None and target.forward:
            passed = tuple(k.arg for k in node.keywords if k.arg and k.arg not in target.own)
            if passed:
                self.uses.append(Use(self.file, node.lineno, target.path, "call", passed,
                                     partial=True))
        elif target is not None and target.path and not target.instance and not target.returns:
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
        made = self.called(node)
        if made is not None and made.root and not made.path:
            self.read(node, made)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        value = self.resolve(node)
        if value is not None and value.root and not value.path:
            self.read(node, value)
        self.generic_visit(node)

    def _visit_inner(self, node: ast.expr) -> None:
        """Inside a resolved chain only calls (`mlflow.MlflowClient().x`) are uses."""
        while isinstance(node, ast.Attribute):
            node = node.value
        if isinstance(node, ast.Call):
            self.visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        target = self.resolve(node)
        if target is None or not target.path:
            if target is not None:
                self.read(node, target)
            self.generic_visit(node)
            return
        owner = self.resolve(node.value)
        self.use(node, target.path, "reference", bound=bool(owner and owner.instance))
        self._visit_inner(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            target = self.lookup(node.id)
            if target is not None and target.path and not target.instance and not target.team \
                    and target.path != self.package:
                self.use(node, target.path, "reference")
            elif target is not None and target.root and not target.path and isinstance(
                    self.parents.get(id(node)), ast.Compare):
                self.read(node, target)  # `if source == …`

    # -- bindings -------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        value = self.resolve(node.value)
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and \
                    len(target.elts) == len(node.value.elts):  # a, b = x[-1], x[:-1]
                for name, item in zip(target.elts, node.value.elts, strict=True):
                    self.assign(name, self.resolve(item))
                continue
            self.assign(target, value)
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
        value = instance(annotated.path) if annotated and annotated.path else (
            self.resolve(node.value) if node.value is not None else None)
        self.assign(node.target, value)

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:  # taken to be the context manager itself
                self.assign(item.optional_vars, self.resolve(item.context_expr))
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With  # noqa: N815 (ast.NodeVisitor's naming)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.assign(node.target, self.items(node.iter))
        for statement in [*node.body, *node.orelse]:
            self.visit(statement)

    visit_AsyncFor = visit_For  # noqa: N815

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       parts: list[ast.expr]) -> None:
        self.scopes.append(Scope())
        for generator in node.generators:
            self.visit(generator.iter)
            self.assign(generator.target, self.items(generator.iter))
            for condition in generator.ifs:
                self.visit(condition)
        for part in parts:
            self.visit(part)
        self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]  # noqa: N815

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
            self.visit(default)
        scope = Scope(selfattrs=dict(self.scopes[-1].selfattrs))
        self.scopes.append(scope)
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            annotated = self.resolve(arg.annotation) if arg.annotation else None
            self.bind(arg.arg, instance(annotated.path) if annotated and annotated.path
                      else None)
        for statement in node.body:
            self.visit(statement)
        made = self._forwarded(node) or self._returned(node)
        self.scopes.pop()
        self.bind(node.name, made)

    def _returned(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Binding | None:
        """`def connect(uri): return MlflowClient(uri)`: the MLflow class every `return` of
        this function (not of functions inside it) gives an instance of, or the one value from
        MLflow they all give (`return client.get_run(run_id)`)."""
        found: dict[tuple[str, str, tuple[str, ...]], Binding] = {}
        pending: list[ast.AST] = list(node.body)
        while pending:
            item = pending.pop()
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                          | ast.Lambda):
                continue
            if isinstance(item, ast.Return):
                value = self.resolve(item.value) if item.value is not None else None
                if value is None or not (value.instance or value.root and not value.path):
                    return None
                key = (value.path, "", ()) if value.instance else ("", value.root, value.steps)
                found[key] = value
            pending.extend(ast.iter_child_nodes(item))
        if len(found) != 1:
            return None
        (value,) = found.values()
        return Binding(value.path, returns=True) if value.instance else replace(value,
                                                                               returns=True)

    def _forwarded(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Binding | None:
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
                if target is not None and target.path and not target.instance \
                        and not target.team:
                    return Binding(target.path, forward=True, own=own)
        return None

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 (ast.NodeVisitor's naming)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.bases, *node.decorator_list]:
            self.visit(expr)
        scope = Scope()
        self.scopes.append(scope)
        # self.<attr> assigned in any method is known in every method (flow-insensitive).
        for method in node.body:
            if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                for statement in ast.walk(method):
                    if isinstance(statement, ast.Assign):
                        value = self.resolve(statement.value)
                        for target in statement.targets:
                            self.assign(target, value)
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
    finder = _Finder(file, package, tree)
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
