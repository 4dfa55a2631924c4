"""Data at the edges: long, odd and many values, written and read back through the client and
through REST, on each side.

Values at each version's documented limit must come back byte for byte; one past it must be
refused with a 4xx (or, where the version documents it, truncated to exactly the limit); odd
text, keys and numbers, log_batch at its maxima, paged searches and lifecycle changes must read
back as written. Anything read back that differs from what was written is *lost data*, named
with its field and its length before and after. What each version documents differently is
classified through the catalog (`harness/catalog/differences.toml`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client
from harness.scenarios.clients import edge_values as ev

Observe = Callable[[dict[str, Any]], None]
LANE_SECONDS = 45  # its typical seconds on one side: how a client's lanes share the modules
READERS = set(ev.VIAS)


def prefix_for(run_prefix: str, side: str) -> str:
    return f"{run_prefix}-{side}"


@pytest.mark.parametrize("field", list(ev.LIMITED_FIELDS))
def test_limits(side: str, mlflow_client: Client, observe: Observe, run_prefix: str,
                field: str) -> None:
    raw = mlflow_client.call("edges:limit_probe", prefix=prefix_for(run_prefix, side),
                             field=field)
    observed, problems = judge_limits(raw)
    observe({field: observed})
    report(problems)


def test_odd_values(side: str, mlflow_client: Client, observe: Observe, run_prefix: str) -> None:
    observed = mlflow_client.call("edges:odd_values", prefix=prefix_for(run_prefix, side))
    observe(observed)
    verify_odd_values(observed)


def test_batch_limits(side: str, mlflow_client: Client, observe: Observe,
                      run_prefix: str) -> None:
    observed = mlflow_client.call("edges_bulk:batch_limits",
                                  prefix=prefix_for(run_prefix, side))
    observe(observed)
    verify_batches(observed)


def test_paging(side: str, mlflow_client: Client, observe: Observe, run_prefix: str) -> None:
    observed = mlflow_client.call("edges_bulk:paging", prefix=prefix_for(run_prefix, side))
    observe(observed)
    verify_paging(observed)


def test_metric_history_without_page_size(side: str, mlflow_client: Client, observe: Observe,
                                          run_prefix: str) -> None:
    """GET get-history naming no page size (a script, curl, another language's client): the
    whole history, as the API documents when max_results is not given."""
    observed = mlflow_client.call("edges_bulk:unpaged_history",
                                  prefix=prefix_for(run_prefix, side))
    observe(observed)
    verify_unpaged_history(observed)


def test_lifecycle(side: str, mlflow_client: Client, observe: Observe, run_prefix: str) -> None:
    observed = mlflow_client.call("edges_bulk:lifecycle", prefix=prefix_for(run_prefix, side))
    observe(observed)
    verify_lifecycle(observed)


def report(problems: list[str]) -> None:
    assert not problems, "; ".join(problems)


# ---- limits ----------------------------------------------------------------------------------

def _is_refusal(outcome: str, via: str) -> bool:
    """A clear refusal: an MLflow error through the client, a 4xx through REST."""
    if not outcome.startswith("refused "):
        return False
    return via == "client" or outcome.split()[1].startswith("4")


def _read_outcome(field: str, expected: str, reads: dict[str, Any]) -> tuple[str, list[str]]:
    """How a stored value reads back ('stored intact', 'truncated: 6001 → 6000 chars', …),
    and a lost-data sentence for each reader that saw something else than was written."""
    losses, described = [], {}
    for reader, observed in sorted(reads.items()):
        kind = ev.change(expected, observed)
        if kind is None:
            described[reader] = "stored intact"
            continue
        losses.append(f"lost data: {ev.lost(field, expected, observed)} ({reader} read)")
        measured = ev.size(observed)
        described[reader] = kind if measured is None else \
            f"{kind}: {len(expected)} → {measured[0]} chars"
    if len(set(described.values())) == 1:
        return next(iter(described.values())), losses
    return "; ".join(f"{reader} read {what}" for reader, what in described.items()), losses


def judge_limits(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The observation of one field's limit probes and the problems in them.

    At the limit the value must be stored intact. One past it, it must be refused clearly, or
    truncated to exactly the documented maximum (what versions that document truncation do).
    At a documented maximum wider than the column it must at least be refused clearly, never
    stored changed.
    """
    field = raw["field"]
    documented, column = raw["documented"], raw["column"]
    limit = min([n for n in (documented, column) if n] or [0]) or None
    observed: dict[str, Any] = {"documented": documented, "column": column, "limit": limit}
    problems: list[str] = []
    for role, vias in raw["probes"].items():
        observed[role] = {}
        for via, probe in vias.items():
            key, value = ev.probe_text(field, role, via, probe["length"])
            expected = key if field in ev.KEY_FIELDS else value
            where = f"{field} {role.replace('_', ' ')} ({probe['length']} chars) via {via}"
            if probe["write"] != "ok":
                outcome = probe["write"]
                stored = [r for r, seen in probe["read"].items() if seen == ev.shown(expected)]
                if stored:
                    problems.append(f"{where}: {outcome} yet stored ({', '.join(stored)} read)")
                elif not _is_refusal(outcome, via):
                    problems.append(f"{where}: {outcome}, not a clear 4xx refusal")
                elif role in ("at_limit", "large"):
                    problems.append(f"{where}: {outcome} at the limit")
                observed[role][via] = outcome
                continue
            outcome, losses = _read_outcome(field, expected, probe["read"])
            observed[role][via] = outcome
            if role == "past_limit" and documented and outcome == (
                    f"truncated: {probe['length']} → {documented} chars"):
                continue  # the version documents truncation to its limit
            if role == "past_limit" and outcome == "stored intact":
                problems.append(f"{where}: accepted past the limit, not refused")
                continue
            problems += [f"{where}: {loss}" for loss in losses]
    return observed, problems


# ---- odd values ------------------------------------------------------------------------------

def _per_reader(observed: Any) -> dict[str, Any]:
    """What each reader saw: the observation itself when they agreed."""
    if isinstance(observed, dict) and observed and set(observed) <= READERS:
        return observed
    return {"both": observed}


def _compare_text(where: str, expected: str, observed: Any) -> list[str]:
    if isinstance(observed, dict) and "write" in observed:
        return [f"{where}: write {observed['write']}"]
    return [f"lost data: {sentence} ({reader} read)"
            for reader, seen in _per_reader(observed).items()
            if (sentence := ev.lost(where, expected, seen)) is not None]


def verify_odd_values(observed: dict[str, Any]) -> None:
    problems: list[str] = []
    for field, by_name in observed["values"].items():
        if field.endswith("description"):
            for via, seen in by_name.items():
                problems += _compare_text(f"{field} via {via}", ev.ODD_MEDLEY, seen)
            continue
        for name, text in ev.ODD_TEXT.items():
            for via in ev.VIAS:
                seen = by_name.get(name, {}).get(via, "<absent>")
                problems += _compare_text(f"{field} {name!r} via {via}", text, seen)
    for field, by_name in observed["keys"].items():
        for name in ev.ODD_KEYS:
            for via in ev.VIAS:
                seen = by_name.get(name, {}).get(via, "<absent>")
                problems += _compare_text(f"{field} {name!r} via {via}",
                                          ev.odd_key(name, via, ev.ODD_KEYS), seen)
        if by_name.get("<unexpected>"):
            problems.append(f"{field}: keys nobody wrote: {by_name['<unexpected>']}")
    for field, by_name in observed["contested_keys"].items():
        for name, vias in by_name.items():
            for via, outcome in vias.items():
                if outcome != "stored" and not _is_refusal(outcome, via):
                    problems.append(f"lost data: {field} {name!r} via {via}: {outcome}")
    problems += _verify_metrics(observed["metrics"])
    report(problems)


def expected_float(name: str) -> set[str]:
    """The texts a metric value may read back as: itself, or what SQL stores hold instead
    (±inf as ±max float; -0.0 as 0.0, because a float literal -0.0 is the number 0 in SQL)."""
    value = ev.FLOATS[name]
    texts = {ev.float_text(value)}
    if name in ev.SQL_STORED_AS:
        texts.add(ev.float_text(ev.SQL_STORED_AS[name]))
    if name == "neg_zero":
        texts.add("0.0")
    return texts


def _verify_metrics(metrics: dict[str, Any]) -> list[str]:
    problems = [f"metrics via {via}: write {outcome}"
                for via, outcome in metrics["written"].items() if outcome != "ok"]
    for name, vias in metrics["floats"].items():
        allowed = expected_float(name)
        for via, seen in vias.items():
            for reader, found in _per_reader(seen).items():
                values = [point[2] for point in found["history"]] + [found["latest"]]
                wrong = [v for v in values if v not in allowed]
                if wrong or len(found["history"]) != 1:
                    problems.append(
                        f"lost data: metric value {name} ({ev.float_text(ev.FLOATS[name])}) via "
                        f"{via}, {reader} read {values}")
    expected_steps = sorted([str(step), str(ts), ev.float_text(float(i))]
                            for i, (step, ts) in enumerate(ev.STEPS_AND_TIMESTAMPS))
    for via, seen in metrics["steps"].items():
        for reader, found in _per_reader(seen).items():
            if found != expected_steps:
                missing = [p for p in expected_steps if p not in found]
                problems.append(f"lost data: steps and timestamps via {via}, {reader} read "
                                f"{len(found)} of {len(expected_steps)} points; missing or "
                                f"changed {missing}")
    return problems


# ---- log_batch -------------------------------------------------------------------------------

def verify_batches(observed: dict[str, Any]) -> None:
    """At the maxima every item is stored; over them a request is refused whole (REST) or
    split by the client and stored whole; never in part."""
    problems: list[str] = []
    for name, batch in ev.batches().items():
        whole = ev.expected_batch(batch)
        nothing = ev.batch_summary([], [], [])
        for via in ev.VIAS:
            probe = observed[name][via]
            for reader, stored in _per_reader(probe["stored"]).items():
                counts = ", ".join(f"{stored[k]} of {whole[k]} {k}"
                                   for k in ("metrics", "params", "tags") if whole[k])
                changed = "" if stored["digest"] == whole["digest"] else ", items changed"
                if probe["write"] == "ok" and stored != whole:
                    problems.append(f"lost data: batch {name} via {via}: stored {counts} "
                                    f"({reader} read{changed})")
                elif probe["write"] != "ok" and stored != nothing:
                    problems.append(f"lost data: batch {name} via {via} was {probe['write']} "
                                    f"but stored {counts} ({reader} read)")
            if probe["write"] != "ok" and (name.endswith("at_max")
                                           or not _is_refusal(probe["write"], via)):
                problems.append(f"batch {name} via {via}: {probe['write']}")
    report(problems)


# ---- paging ----------------------------------------------------------------------------------

def page_problems(kind: str, via: str, pages: Any) -> list[str]:
    """Pages read to the end must hold every item once, in the search's order, none over the
    page size."""
    if isinstance(pages, str):
        return [f"{kind} via {via}: {pages}"]
    expected = ev.paged(kind)
    seen = [item for page in pages for item in page]
    missing = [item for item in expected if item not in seen]
    doubled = sorted({item for item in seen if seen.count(item) > 1})
    problems = []
    if missing:
        problems.append(f"lost data: {kind} via {via}: {len(missing)} of {len(expected)} "
                        f"missing after {len(pages)} pages ({', '.join(missing[:5])}"
                        f"{' …' if len(missing) > 5 else ''})")
    if doubled:
        problems.append(f"{kind} via {via}: doubled across pages: {', '.join(doubled[:5])}")
    extra = [item for item in seen if item not in expected]
    if extra:
        problems.append(f"{kind} via {via}: items nobody wrote: {', '.join(extra[:5])}")
    if not (missing or doubled or extra) and seen != expected:
        problems.append(f"{kind} via {via}: out of order across pages")
    oversized = [len(page) for page in pages if len(page) > ev.PAGE_SIZES[kind]]
    if oversized:
        problems.append(f"{kind} via {via}: pages over the page size {ev.PAGE_SIZES[kind]}: "
                        f"{oversized}")
    return problems


def _history_problems(where: str, found: Any) -> list[str]:
    whole = ev.expected_history()
    if isinstance(found, str):
        return [f"{where}: {found}"]
    if found.get("digest") == whole["digest"]:
        return []
    return [f"lost data: {where}: {found.get('points')} of {whole['points']} points"
            f"{', values changed' if found.get('points') == whole['points'] else ''}"]


def verify_paging(observed: dict[str, Any]) -> None:
    problems: list[str] = []
    for kind in ev.PAGED:
        for via in ev.VIAS:
            problems += page_problems(kind, via, observed[kind][via])
    history = observed["metric_history"]
    problems += _history_problems("metric history via client", history["client"])
    problems += _history_problems("metric history via REST, paged", history["rest"])
    if sum(history["rest_pages"]) != ev.HISTORY_POINTS:
        problems.append(f"metric history via REST: pages {history['rest_pages']} do not add up "
                        f"to {ev.HISTORY_POINTS}")
    report(problems)


def verify_unpaged_history(observed: dict[str, Any]) -> None:
    problems = _history_problems("metric history via REST without a page size", observed)
    if problems:
        problems[0] += f" (pages {observed.get('pages')}, then {observed.get('stopped')})"
    report(problems)


# ---- lifecycle -------------------------------------------------------------------------------

def _both(value: Any) -> dict[str, Any]:
    return {"client": value, "rest": value}


LIFECYCLE: dict[str, Any] = {
    "nested": _both(["child-a", "child-b"]),
    "run_deleted": {"active": _both(["child-a", "parent"]), "deleted": _both(["child-b"]),
                    "stage": "deleted", "nested": _both(["child-a"])},
    "run_restored": {"active": _both(["child-a", "child-b", "parent"]), "deleted": _both([]),
                     "stage": "active"},
    "experiment_deleted": {"active": _both(["."]), "deleted": _both(["-gone"]),
                           "stage": "deleted"},
    "experiment_restored": {"active": _both(["-gone", "."]), "deleted": _both([]),
                            "stage": "active"},
    "registry": {
        "renamed": _both({"name": "-model-after", "description": "renamed",
                          "tags": {"kept": "yes"}}),
        "versions": [{"version": "1", "name": "-model-after", "stage": "Archived", "tags": {}},
                     {"version": "2", "name": "-model-after", "stage": "None",
                      "tags": {"kept": "yes"}},
                     {"version": "3", "name": "-model-after", "stage": "Production",
                      "tags": {}}],
        "latest_archived": ["1"],
        "version_1": "Archived",
    },
}


def _lifecycle_problems(path: str, expected: Any, observed: Any) -> list[str]:
    if isinstance(expected, dict) and set(expected) != READERS:
        return [problem for key, value in expected.items()
                for problem in _lifecycle_problems(f"{path}.{key}".lstrip("."), value,
                                                   (observed or {}).get(key, "<absent>"))]
    expected_by = expected if isinstance(expected, dict) else {"both": expected}
    seen_by = _per_reader(observed)
    problems = []
    for reader, seen in seen_by.items():
        want = expected_by.get(reader, expected_by.get("client", expected_by.get("both")))
        if seen == want:
            continue
        missing = [item for item in want if item not in seen] \
            if isinstance(want, list) and isinstance(seen, list) else []
        problems.append(f"{'lost data: ' if missing else ''}lifecycle {path} ({reader} read): "
                        f"expected {want!r}, got {seen!r}")
    return problems


def verify_lifecycle(observed: dict[str, Any]) -> None:
    problems = _lifecycle_problems("", LIFECYCLE, observed)
    for reader, outcome in observed["registry"]["old_name"].items():
        if not _is_refusal(str(outcome), reader) or "RESOURCE_DOES_NOT_EXIST" not in outcome:
            problems.append(f"lifecycle registry.old_name ({reader} read): the old name of a "
                            f"renamed model answered {outcome!r}, not RESOURCE_DOES_NOT_EXIST")
    report(problems)
