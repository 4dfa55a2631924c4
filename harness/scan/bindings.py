"""What names and expressions stand for in a team's module, as the scan reads it: an MLflow
path (`mlflow.sklearn.log_model`), an instance of an MLflow class, a team function that hands
its **kwargs to MLflow or returns an MLflow instance or value, or a value from MLflow and the
steps taken since it was made (`Binding.root`, `Binding.steps`). Scopes nest like functions;
`self.<attr>` bindings are shared by a class's methods.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace

CALL, ITEM, COMPARED = "()", "[]", "?"  # steps of a value; any other step is an attribute
KEEP_ITEMS = ("sorted", "list", "reversed", "tuple", "iter")  # builtins whose items are x's


@dataclass(frozen=True)
class Binding:
    path: str
    instance: bool = False
    # A team function that passes its **kwargs on to `path`: the keywords a caller gives it,
    # less its own named parameters (`own`), reach MLflow.
    forward: bool = False
    own: frozenset[str] = frozenset()
    returns: bool = False  # a team function that returns an instance of `path` (or a value)
    # A value from MLflow (see Use.steps): where it came from, and the call that made it.
    root: str = ""
    steps: tuple[str, ...] = ()
    origin: int = 0
    origin_api: str = ""

    @property
    def team(self) -> bool:
        """The team's own function (not an MLflow name): calling it is not an MLflow call."""
        return self.forward or self.returns

    def then(self, step: str, path: str = "") -> Binding:
        """The value one step further (`path`: an instance's method, still callable by path)."""
        return Binding(path, root=self.root, steps=(*self.steps, step), origin=self.origin,
                       origin_api=self.origin_api)


def instance(path: str, line: int = 0) -> Binding:
    """An instance of the MLflow class `path` (made at `line`, or annotated: 0)."""
    return Binding(path, instance=True, root=path, steps=(CALL,), origin=line,
                   origin_api=path if line else "")


def reads(steps: tuple[str, ...]) -> bool:
    """Whether the steps read something of a value (not only call methods on it)."""
    for index, step in enumerate(steps[1:], 1):
        if step in (ITEM, COMPARED) or step != CALL and (
                index + 1 == len(steps) or steps[index + 1] != CALL):
            return True
    return False


@dataclass
class Scope:
    names: dict[str, Binding] = field(default_factory=dict)
    selfattrs: dict[str, Binding] = field(default_factory=dict)
    dict_keys: dict[str, set[str]] = field(default_factory=dict)  # kwargs dicts' known keys


class Names:
    """The bindings in scope, and what an expression resolves to."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = [Scope()]

    # -- names ----------------------------------------------------------------------------

    def lookup(self, name: str) -> Binding | None:
        for scope in reversed(self.scopes):
            if name in scope.names:
                return scope.names[name]
        return None

    def bind(self, name: str, binding: Binding | None) -> None:
        if binding is None:
            self.scopes[-1].names.pop(name, None)
        else:
            self.scopes[-1].names[name] = binding

    def resolve(self, node: ast.expr) -> Binding | None:
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
            if base.root:  # an instance's method keeps its path; a value's attribute has none
                return base.then(node.attr, f"{base.path}.{node.attr}" if base.instance else "")
            return Binding(f"{base.path}.{node.attr}")
        if isinstance(node, ast.Call):
            return self.called(node)
        if isinstance(node, ast.Subscript):
            base = self.resolve(node.value)
            if base is None or not base.root:
                return None
            return base if isinstance(node.slice, ast.Slice) else base.then(ITEM)
        return None

    def called(self, node: ast.Call) -> Binding | None:
        """What a call gives: an instance of an MLflow class (or of a team factory's), or a
        value from MLflow (an MLflow function's, a method's of an MLflow value)."""
        func = node.func
        if isinstance(func, ast.Name) and func.id in KEEP_ITEMS and node.args \
                and self.lookup(func.id) is None:
            kept = self.resolve(node.args[0])  # sorted(versions): the same items
            return kept if kept is not None and kept.root and not kept.path else None
        callee = self.resolve(func)
        if callee is None or callee.forward or callee.instance:
            return None
        if callee.returns:
            return instance(callee.path, node.lineno) if callee.path else \
                replace(callee, returns=False)
        if callee.path and classlike(callee.path):
            return instance(callee.path, node.lineno)
        if callee.path:
            made = callee.then(CALL) if callee.root else Binding("", root=callee.path,
                                                                  steps=(CALL,))
            return replace(made, origin=node.lineno, origin_api=callee.path)
        return callee.then(CALL) if callee.root else None

    def dicts(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for scope in self.scopes:
            found.update(scope.dict_keys)
        return found

    def assign(self, target: ast.expr, value: Binding | None) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value)
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for inner in target.elts if not isinstance(target, ast.Starred) else [target.value]:
                self.assign(inner, None)  # what each name holds now is not followed
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                and target.value.id == "self" and value is not None:
            self.scopes[-1].selfattrs[target.attr] = value

    def items(self, iterable: ast.expr) -> Binding | None:
        each = self.resolve(iterable)
        return each.then(ITEM) if each is not None and each.root else None


def classlike(path: str) -> bool:
    return path.rpartition(".")[2][:1].isupper()
