"""The benchmarked operations: which REST routes each one uses, and how it is scheduled.

Routes matter for latency injection (`--inject-latency OP=PCT` delays that operation's routes
on the new server's side). Large-artifact operations are scheduled in rounds of their own, as a
64 MB transfer can take a minute where the other operations take milliseconds. Operations at
scale (`scale`) read the store of `--scale medium|large` and are timed only when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError

ARTIFACTS = ("/api/2.0/mlflow-artifacts/artifacts/",)


@dataclass(frozen=True)
class Operation:
    name: str
    routes: tuple[str, ...]
    large: bool = False
    client_side: bool = True  # also timed to compare the two versions' own clients
    requests: int | None = 1  # REST requests one call makes (None: many, or it varies)
    scale: bool = False  # reads the store of --scale (timed only with one)
    artifact: str = ""  # a large transfer's size (--artifact-size), e.g. "64mb"


MB = 1024 * 1024
ARTIFACT_SIZES = {"64mb": 64 * MB, "256mb": 256 * MB, "1gb": 1024 * MB}
DEFAULT_ARTIFACT = "64mb"


def _transfers(size: str) -> tuple[Operation, Operation]:
    return (Operation(f"upload_{size}", ARTIFACTS, large=True, client_side=False, requests=None,
                      artifact=size),
            Operation(f"download_{size}", ARTIFACTS, large=True, client_side=False,
                      requests=None, artifact=size))


OPERATIONS: tuple[Operation, ...] = (
    Operation("create_experiment", ("/api/2.0/mlflow/experiments/create",)),
    Operation("create_run", ("/api/2.0/mlflow/runs/create",)),
    Operation("log_metric", ("/api/2.0/mlflow/runs/log-metric",)),
    Operation("log_batch_1000", ("/api/2.0/mlflow/runs/log-batch",)),
    Operation("log_param", ("/api/2.0/mlflow/runs/log-parameter",)),
    Operation("set_tag", ("/api/2.0/mlflow/runs/set-tag",)),
    Operation("get_run", ("/api/2.0/mlflow/runs/get",)),
    Operation("search_runs", ("/api/2.0/mlflow/runs/search",)),
    Operation("get_metric_history_5000", ("/api/2.0/mlflow/metrics/get-history",)),
    Operation("register_model_version", ("/api/2.0/mlflow/registered-models/create",
                                         "/api/2.0/mlflow/model-versions/create"), requests=2),
    Operation("set_get_alias", ("/api/2.0/mlflow/registered-models/alias",), requests=2),
    Operation("search_model_versions", ("/api/2.0/mlflow/model-versions/search",)),
    Operation("transition_stage", ("/api/2.0/mlflow/model-versions/transition-stage",)),
    Operation("upload_1mb", ARTIFACTS, requests=None),
    Operation("download_1mb", ARTIFACTS, requests=None),
    Operation("log_model", (), requests=None),
    Operation("load_model", (), requests=None),
    *(op for size in ARTIFACT_SIZES for op in _transfers(size)),
    # On the store of --scale: a filtered, ordered search over the big experiment's runs, the
    # experiments and the model versions, a long metric history (paged), a run with thousands
    # of params.
    Operation("search_runs_at_scale", ("/api/2.0/mlflow/runs/search",), client_side=False,
              scale=True),
    Operation("search_experiments_at_scale", ("/api/2.0/mlflow/experiments/search",),
              client_side=False, scale=True),
    Operation("search_model_versions_at_scale", ("/api/2.0/mlflow/model-versions/search",),
              client_side=False, scale=True),
    Operation("get_metric_history_long", ("/api/2.0/mlflow/metrics/get-history",),
              client_side=False, requests=None, scale=True),
    Operation("get_run_wide", ("/api/2.0/mlflow/runs/get",), client_side=False, scale=True),
)
BY_NAME = {op.name: op for op in OPERATIONS}
# Timed in every run: all but those at scale and the transfers of another --artifact-size.
UNSCALED = tuple(op.name for op in OPERATIONS
                 if not op.scale and op.artifact in ("", DEFAULT_ARTIFACT))


def artifact_size(raw: str) -> str:
    """`--artifact-size 1GB` → "1gb"; one line when it is not a size the benchmark has."""
    label = raw.strip().lower().replace(" ", "").replace("ib", "b")
    if label not in ARTIFACT_SIZES:
        names = ", ".join(size.upper() for size in ARTIFACT_SIZES)
        raise UsageError(f"--artifact-size takes one of {names}, not {raw!r}")
    return label


def with_artifact(names: tuple[str, ...], size: str) -> tuple[str, ...]:
    """`names` with the large transfers of `size` in place of the default's."""
    kept = tuple(name for name in names if not BY_NAME[name].artifact)
    return kept + tuple(op.name for op in OPERATIONS if op.artifact == size)
ALL = "*"


def parse_injection(raw: list[str]) -> tuple[tuple[str, float], ...]:
    """`OP=PCT` or a blanket `PCT` → ((op or "*", fraction), …); one clear line when wrong."""
    found: list[tuple[str, float]] = []
    for item in raw:
        name, _, percent = item.rpartition("=")
        name = name or ALL
        try:
            fraction = float(percent.rstrip("%")) / 100
        except ValueError:
            raise UsageError(f"--inject-latency takes OP=PCT or PCT, not {item!r}") from None
        if not 0 < fraction <= 10:
            raise UsageError(f"--inject-latency {item!r}: the percentage must be in (0, 1000]")
        if name != ALL and name not in BY_NAME:
            raise UsageError(f"--inject-latency: unknown operation {name!r}; one of "
                             + ", ".join(BY_NAME))
        if name != ALL and not BY_NAME[name].routes:
            raise UsageError(f"--inject-latency: {name} spans many routes; pick a REST operation")
        found.append((name, fraction))
    return tuple(found)
