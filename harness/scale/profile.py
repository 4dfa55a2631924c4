"""`--scale`: the size of the store a run works on.

`small` (the default) is the migration drill's own seed alone: a few hundred entities and 9,000
metric rows written through the old client. `medium` and `large` (or explicit counts) add a
store of that size, seeded in bulk into the old version's own schema (`bulk.py`), which the
migration drill, the scenarios and the benchmark all work on (`store.py`). Counts may follow a
profile (`large,metrics=20M`) or stand alone (on top of `medium`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from harness.errors import UsageError

SMALL, MEDIUM, LARGE = "small", "medium", "large"
DOCS = "docs/scale.md"


@dataclass(frozen=True)
class StoreSize:
    """The store seeded in bulk. Counts are totals unless named per run."""

    experiments: int
    runs: int  # half of them in one experiment: the one `search_runs` goes over
    params: int  # per run
    tags: int  # per run, MLflow's system tags among them
    metrics: int  # metric rows in all (every step of every history)
    history: int  # points of one run's long metric history (part of `metrics`)
    wide: int  # params of one run ("thousands of params")
    models: int  # registered models
    versions: int  # model versions in all
    profile: str = "custom"

    @property
    def big_experiment_runs(self) -> int:
        return self.runs // 2

    @property
    def metric_keys(self) -> int:
        return 5

    @property
    def steps_per_key(self) -> int:
        """Steps of each of a run's metric histories, the long run aside."""
        return max(1, (self.metrics - self.history) // (self.runs * self.metric_keys))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, StoreSize] = {
    MEDIUM: StoreSize(experiments=200, runs=20_000, params=20, tags=8, metrics=2_000_000,
                      history=50_000, wide=2_000, models=200, versions=2_000, profile=MEDIUM),
    LARGE: StoreSize(experiments=1_000, runs=200_000, params=20, tags=8, metrics=10_000_000,
                     history=100_000, wide=5_000, models=1_000, versions=10_000, profile=LARGE),
}
COUNTS = tuple(f.name for f in fields(StoreSize) if f.name != "profile")
# (least, most) for each count: beyond them a run does not fit a machine this harness runs on.
LIMITS = {"experiments": (2, 100_000), "runs": (10, 10_000_000), "params": (1, 100),
          "tags": (6, 50), "metrics": (100, 1_000_000_000), "history": (10, 10_000_000),
          "wide": (1, 100_000), "models": (1, 100_000), "versions": (1, 10_000_000)}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]|e\d+)?$")


def parse_scale(raw: str | None) -> StoreSize | None:
    """`small` → None (no bulk store); `medium`, `large`, `KEY=N,…` or `PROFILE,KEY=N,…` → its
    size. A bare number (the old multiplier of the migration seed) is refused with one line."""
    text = (raw or SMALL).strip().lower()
    if text == SMALL:
        return None
    if _NUMBER.match(text) and "=" not in text:
        raise UsageError(
            f"--scale {raw}: a bare number no longer multiplies the migration seed; give small, "
            f"medium, large or counts such as metrics=1000000 ({DOCS})")
    parts = [part.strip() for part in text.split(",") if part.strip()]
    base = PROFILES[MEDIUM]
    if parts and "=" not in parts[0]:
        if parts[0] not in PROFILES:
            raise UsageError(f"--scale {raw}: unknown size {parts[0]!r}; one of small, medium, "
                             f"large, or counts such as runs=50000 ({DOCS})")
        base = PROFILES[parts.pop(0)]
    counts = dict(_count(raw or "", part) for part in parts)
    size = replace(base, **counts, profile=base.profile if not counts else "custom")
    return check_size(size, raw or "")


def _count(raw: str, part: str) -> tuple[str, int]:
    key, _, value = part.partition("=")
    key = key.strip()
    if key not in COUNTS:
        raise UsageError(f"--scale {raw}: unknown count {key!r}; one of {', '.join(COUNTS)}")
    return key, parse_number(value.strip(), f"--scale {raw}: {key}")


def parse_number(text: str, what: str) -> int:
    """`20000`, `20k`, `2M`, `1e6`, `2_000_000` → an integer; one line when it is none."""
    found = _NUMBER.match(text.replace("_", ""))
    if found is None:
        raise UsageError(f"{what} must be a whole number (20000, 20k, 2M or 1e6), not {text!r}")
    number, suffix = float(found[1]), (found[2] or "").lower()
    factor = {"": 1, "k": 1_000, "m": 1_000_000}.get(suffix) or 10 ** int(suffix[1:] or 0)
    return int(number * factor)


def check_size(size: StoreSize, raw: str) -> StoreSize:
    """Every count within its limits, and the counts consistent with each other."""
    for key, (least, most) in LIMITS.items():
        value = getattr(size, key)
        if not least <= value <= most:
            raise UsageError(f"--scale {raw}: {key} must be between {least:,} and {most:,}, "
                             f"not {value:,}")
    if size.experiments > size.runs:
        raise UsageError(f"--scale {raw}: more experiments ({size.experiments:,}) than runs "
                         f"({size.runs:,})")
    if size.versions < size.models:
        raise UsageError(f"--scale {raw}: versions ({size.versions:,}) must be at least one per "
                         f"model ({size.models:,})")
    if size.models > size.runs:
        raise UsageError(f"--scale {raw}: more models ({size.models:,}) than runs "
                         f"({size.runs:,})")
    if size.metrics < size.history + size.runs * size.metric_keys:
        raise UsageError(
            f"--scale {raw}: metrics ({size.metrics:,}) must hold the long history "
            f"({size.history:,}) and {size.metric_keys} points per run "
            f"({size.runs * size.metric_keys:,})")
    return size


def describe(size: StoreSize | None) -> str:
    """One line: `medium: 200 experiments, 20,000 runs, 2,000,000 metric rows, …`."""
    if size is None:
        return "small: the migration seed only (9,000 metric rows through the old client)"
    return (f"{size.profile}: {size.experiments:,} experiments, {size.runs:,} runs "
            f"({size.params} params and {size.tags} tags each), {size.metrics:,} metric rows "
            f"(one history of {size.history:,} points), a run with {size.wide:,} params, "
            f"{size.models:,} registered models with {size.versions:,} versions")


_REVISION = re.compile(r"^[0-9a-f]{6,40}$")


def parse_slow_step(raw: str | None) -> tuple[str, float] | None:
    """`--inject-slow-migration REVISION=SECONDS` → (revision, seconds)."""
    if not raw:
        return None
    revision, _, seconds = raw.partition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if not _REVISION.match(revision.strip()) or not 0 < value <= 600:
        raise UsageError(f"--inject-slow-migration takes REVISION=SECONDS (an alembic "
                         f"revision id and 0 < SECONDS <= 600), not {raw!r}")
    return revision.strip(), value
