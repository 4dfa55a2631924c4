"""What changed between two API surfaces: for one use of an API (the scan) or for the whole
surface (a summary). Only what the old version has is judged: a name the old surface does not
know is not the upgrade's business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.scan.surface import VAR_KEYWORD, VAR_POSITIONAL, ApiObject, Param, Surface

REMOVED = "removed"
MOVED = "moved"
DEPRECATED = "deprecated"
PARAM_REMOVED = "parameter-removed"
PARAM_KWARGS = "parameter-now-kwargs"
PARAM_DEPRECATED = "parameter-deprecated"
PARAM_REQUIRED = "parameter-required"
PARAM_POSITION = "parameter-position"
CLI_REMOVED = "cli-removed"
BEHAVIOUR = "behaviour"  # a documented behaviour change of an API whose signature did not


@dataclass(frozen=True)
class Change:
    """One change of one API: `api` is the path as the old version names it."""

    api: str
    kind: str
    what: str
    parameter: str | None = None


def declared(text: str, version: str) -> str:
    """`deprecated since 2.3.0: Use X` as declared by `version`, for a sentence."""
    head, sep, note = text.replace("``", "`").partition(":")
    return f"{head} ({version}){sep}{note}"


def _public(path: str) -> bool:
    return not any(part.startswith("_") and not part.startswith("__")
                   for part in path.split("."))


def object_change(path: str, old: Surface, new: Surface) -> Change | None:
    """The removal (or move) of `path` or of the outermost of its parents, or its newly
    declared deprecation; None when the old version does not know `path` either. A module
    the old version has is removed when the new one has no module there, whatever else still
    bears its name (a lazy loader of the missing module, a leftover attribute)."""
    if old.resolve(path) is None:
        return None
    parts = path.split(".")
    for end in range(2, len(parts) + 1):
        prefix = ".".join(parts[:end])
        was = old.resolve(prefix)
        if was is None:
            return None
        now = new.resolve(prefix)
        gone = was[1].kind == "module" and now is not None and now[1].kind != "module"
        if now is None or gone:
            if not gone and not new.judgeable(prefix):
                return None
            whole = old.resolve(path)
            if prefix != path and whole is not None:  # what the code names may live elsewhere
                moved = _removed(path, whole[1], old, new)
                if moved.kind == MOVED:
                    return moved
            return _removed(prefix, was[1], old, new)
    now = new.resolve(path)
    was = old.resolve(path)
    if now is not None and was is not None and now[1].deprecated and not was[1].deprecated:
        return Change(path, DEPRECATED, declared(now[1].deprecated, new.version))
    return None


def _removed(path: str, was: ApiObject, old: Surface, new: Surface) -> Change:
    name = path.rpartition(".")[2]
    kind = was.kind if was.kind != "alias" else "name"
    if len([p for p in old.by_name(name) if _public(p)]) == 1:
        there = [p for p in new.by_name(name) if _public(p) and
                 new.objects[p].kind == was.kind]
        if len(there) == 1 and (was.kind != "module" or _same_members(path, there[0], old,
                                                                      new)):
            return Change(path, MOVED, f"{kind} moved to {there[0]} in {new.version}")
    note = f"; {declared(was.deprecated, old.version)}" if was.deprecated else ""
    return Change(path, REMOVED, f"{kind} removed in {new.version}{note}{_left(path, new)}")


def _same_members(path: str, moved: str, old: Surface, new: Surface) -> bool:
    """A module is moved, not replaced by a namesake, when most of its public names are
    there too (`mlflow.types.llm` is not where `mlflow.llm` went)."""
    def names(surface: Surface, module: str) -> set[str]:
        return {p.rpartition(".")[2] for p in surface.objects
                if p.rpartition(".")[0] == module and _public(p)}

    had = names(old, path)
    return bool(had) and len(had & names(new, moved)) * 2 > len(had)


def _left(path: str, new: Surface) -> str:
    """What the new version still has under a removed module's name."""
    left = new.objects.get(path)
    if left is None or left.kind == "module":
        return ""
    where = f" at {left.file}:{left.line}" if left.file else ""
    what = f"a lazy loader{where}; importing it raises ModuleNotFoundError" if left.target \
        else f"{'an' if left.kind[0] in 'aeiou' else 'a'} {left.kind}{where}"
    return f" (only its name is left: {what})"


def _callable(surface: Surface, path: str, bound: bool) -> list[Param] | None:
    found = surface.callable_params(path)
    if found is None:
        return None
    params = list(found[1])
    if (bound or found[2]) and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return params


def call_changes(path: str, old: Surface, new: Surface, keywords: Sequence[str],
                 positional: int, bound: bool = False, complete: bool = True) -> list[Change]:
    """What a call `path(<positional> args, **keywords)` meets in the new version: removed or
    moved keyword parameters, positions that bind differently, required parameters it does
    not pass, deprecated parameters it passes. A call known only in part (`complete=False`:
    keywords that reached it through a team function's **kwargs) is judged on its keywords."""
    was, now = _callable(old, path, bound), _callable(new, path, bound)
    if was is None or now is None:
        return []
    changes: list[Change] = []
    old_positional = [p for p in was if p.positional]
    new_positional = [p for p in now if p.positional]
    passed = [p.name for p in old_positional[:positional]] + list(keywords)
    new_names = {p.name: p for p in now}
    new_kwargs = any(p.kind == VAR_KEYWORD for p in now)
    old_names = {p.name: p for p in was}
    for index in range(positional):
        if index >= len(new_positional):
            if not any(p.kind == VAR_POSITIONAL for p in now):
                changes.append(Change(path, PARAM_POSITION, f"takes {len(new_positional)} "
                                      f"positional arguments in {new.version}, given "
                                      f"{positional}"))
            break
        if index < len(old_positional) and old_positional[index].name != \
                new_positional[index].name:
            changes.append(Change(
                path, PARAM_POSITION, f"positional argument {index + 1} binds to "
                f"{new_positional[index].name} in {new.version}, not "
                f"{old_positional[index].name}", old_positional[index].name))
    for name in passed:
        if name not in old_names:
            continue
        current = new_names.get(name)
        if current is None:
            note = old_names[name].deprecated
            hint = f"; {declared(note, old.version)}" if note else ""
            if new_kwargs:
                changes.append(Change(path, PARAM_KWARGS, f"parameter {name} is no longer a "
                                      f"named parameter in {new.version}: it goes to **kwargs"
                                      f"{hint}", name))
            else:
                changes.append(Change(path, PARAM_REMOVED,
                                      f"parameter {name} removed in {new.version}{hint}", name))
        elif current.deprecated and not old_names[name].deprecated:
            changes.append(Change(path, PARAM_DEPRECATED,
                                  f"parameter {name} {declared(current.deprecated, new.version)}",
                                  name))
    given = set(passed) | {p.name for p in new_positional[:positional]}
    for param in now if complete else ():
        if param.required and param.name not in given and param.kind not in (
                VAR_POSITIONAL, VAR_KEYWORD) and not (param.name in old_names and
                                                      old_names[param.name].required):
            changes.append(Change(path, PARAM_REQUIRED, f"new required parameter "
                                  f"{param.name} in {new.version}", param.name))
    return changes


def cli_change(command: str, old: Surface, new: Surface) -> Change | None:
    """`mlflow <group> <command>` the old version has and the new one does not."""
    if command in old.cli and command not in new.cli:
        return Change(command, CLI_REMOVED, f"command `{command}` removed in {new.version}")
    return None


def diff_surfaces(old: Surface, new: Surface) -> list[Change]:
    """Every public API of the old surface that was removed, moved or newly deprecated, and
    every signature change of a function both have (removed, no-longer-named and newly
    deprecated parameters, new required ones); then removed commands."""
    changes: list[Change] = []
    removed: set[str] = set()
    for path in sorted(old.objects):
        if not _public(path) or path.rpartition(".")[0] in removed or any(
                path.startswith(r + ".") for r in removed):
            continue
        if old.objects[path].kind == "alias" and new.resolve(path.rpartition(".")[0]) \
                and new.resolve(old.objects[path].target or "") is not None:
            continue  # a name a module imported went away; what it named is still there
        change = object_change(path, old, new)
        if change is not None and change.api == path:
            changes.append(change)
            if change.kind in (REMOVED, MOVED):
                removed.add(path)
            continue
        if old.objects[path].kind == "function" and path.rpartition(".")[2] != "__init__" \
                or old.objects[path].kind == "class":
            changes.extend(_signature_changes(path, old, new))
    changes.extend(c for c in (cli_change(cmd, old, new) for cmd in sorted(old.cli)) if c)
    return changes


def _signature_changes(path: str, old: Surface, new: Surface) -> Iterable[Change]:
    was, now = _callable(old, path, False), _callable(new, path, False)
    if was is None or now is None:
        return []
    named = [p.name for p in was if p.kind not in (VAR_POSITIONAL, VAR_KEYWORD)]
    return call_changes(path, old, new, named, 0)


def summary(changes: Iterable[Change]) -> dict[str, int]:
    """How many changes of each kind."""
    return dict(sorted(Counter(c.kind for c in changes).items()))
