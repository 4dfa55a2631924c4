"""Ids the replay's own writes create, mapped onto the recorded ones (one map per server).

A recorded `runs/create` answered run id `r`; replayed, server A answers `a`, B `b`, the new
one `n`. From then on a request naming `r` is sent to A with `a`, to B with `b`, to the new
server with `n` (`forward`), and every answer is read back with `a`/`b`/`n` replaced by `r`
(`backward`), so the three answers compare as the same thing, and an id is only noise when the
servers disagree on what it points to.

What is learned, from the routes that create (or name) an entity, when the recording has the
recorded answer: experiment ids (`experiments/create`, `experiments/get-by-name`), run ids
(`runs/create`), model versions per model name (`model-versions/create`), logged-model ids
(`logged-models`), trace ids (`traces`). Run, logged-model and trace ids are unique text
(hex, `m-…`, `tr-…`) and replaced wherever they occur (paths, queries, bodies, artifact URIs);
experiment ids and versions are small numbers, replaced only where a field names them
(`experiment_id(s)`, `version` beside a model `name`) and in artifact paths
(`…/artifacts/<experiment>/<run>/…`, `mlflow-artifacts:/<experiment>/…`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

EXPERIMENT, OPAQUE, VERSION = "experiment", "opaque", "version"
CREATES: dict[str, tuple[tuple[str, str], ...]] = {
    "/api/2.0/mlflow/experiments/create": (("experiment_id", EXPERIMENT),),
    "/api/2.0/mlflow/experiments/get-by-name": (("experiment.experiment_id", EXPERIMENT),),
    "/api/2.0/mlflow/runs/create": (("run.info.run_id", OPAQUE), ("run.info.run_uuid", OPAQUE)),
    "/api/2.0/mlflow/model-versions/create": (("model_version.version", VERSION),),
    "/api/2.0/mlflow/logged-models": (("model.info.model_id", OPAQUE),),
    "/api/2.0/mlflow/traces": (("trace_info.request_id", OPAQUE),),
    "/api/3.0/mlflow/traces": (("trace.trace_info.trace_id", OPAQUE),),
}
_OPAQUE = re.compile(r"\b(?:m-|tr-)?[0-9a-f]{32}\b")
_ARTIFACT_EXPERIMENT = re.compile(r"(mlflow-artifacts:/|/artifacts/)(\d+)(?=/|$)")
_EXPERIMENT_KEYS = {"experiment_id", "experiment_ids"}
_VERSION_KEYS = {"version", "model_version"}


def _at(value: Any, path: str) -> Any:
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass
class _Direction:
    """One way of the mapping: recorded → server (`forward`) or back."""

    opaque: dict[str, str] = field(default_factory=dict)
    experiments: dict[str, str] = field(default_factory=dict)
    versions: dict[tuple[str, str], str] = field(default_factory=dict)

    def text(self, text: str) -> str:
        if not self.opaque:
            return self._artifact_paths(text)
        return self._artifact_paths(_OPAQUE.sub(lambda m: self.opaque.get(m[0], m[0]), text))

    def _artifact_paths(self, text: str) -> str:
        if not self.experiments or ("artifacts" not in text):
            return text
        return _ARTIFACT_EXPERIMENT.sub(
            lambda m: m[1] + self.experiments.get(m[2], m[2]), text)

    def experiment(self, value: Any) -> Any:
        return self.experiments.get(str(value), value) if isinstance(value, (str, int)) \
            and not isinstance(value, bool) else value

    def json(self, value: Any, key: str = "", name: str = "") -> Any:
        if isinstance(value, dict):
            named = value.get("name")
            inner = named if isinstance(named, str) else name
            return {k: self.json(v, str(k), inner) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v, key, name) for v in value]
        if key in _EXPERIMENT_KEYS:
            return self.experiment(value)
        if key in _VERSION_KEYS and name and isinstance(value, (str, int)):
            return self.versions.get((name, str(value)), value)
        return self.text(value) if isinstance(value, str) else value

    def query(self, query: str) -> str:
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        name = next((v for k, v in pairs if k == "name"), "")
        mapped = []
        for key, value in pairs:
            if key in _EXPERIMENT_KEYS:
                value = str(self.experiment(value))
            elif key in _VERSION_KEYS and name:
                value = self.versions.get((name, value), value)
            else:
                value = self.text(value)
            mapped.append((key, value))
        return urlencode(mapped)


class IdMap:
    """One server's ids against the recorded ones."""

    def __init__(self) -> None:
        self.forward = _Direction()
        self.backward = _Direction()

    @property
    def size(self) -> int:
        return len(self.forward.opaque) + len(self.forward.experiments) + \
            len(self.forward.versions)

    def learn(self, route: str, request: Any, recorded: Any, answered: Any) -> None:
        """Pairs of (recorded, this server's) ids from a creating route's two answers."""
        for path, kind in CREATES.get(route, ()):
            old, new = _at(recorded, path), _at(answered, path)
            if old is None or new is None or isinstance(old, (dict, list)):
                continue
            old, new = str(old), str(new)
            if kind == OPAQUE:
                self._pair(self.forward.opaque, self.backward.opaque, old, new)
            elif kind == EXPERIMENT:
                self._pair(self.forward.experiments, self.backward.experiments, old, new)
            else:
                name = str(_at(request, "name") or "")
                self.forward.versions[(name, old)] = new
                self.backward.versions[(name, new)] = old

    @staticmethod
    def _pair(forward: dict[str, str], backward: dict[str, str], old: str, new: str) -> None:
        if old != new:
            forward[old] = new
            backward[new] = old

    def request(self, path: str, query: str, body: Any) -> tuple[str, str, Any]:
        """A recorded request as this server must receive it."""
        return self.forward.text(path), self.forward.query(query), self.forward.json(body)

    def answer(self, body: Any) -> Any:
        """This server's answer with its ids read as the recorded ones."""
        return self.backward.json(body)
