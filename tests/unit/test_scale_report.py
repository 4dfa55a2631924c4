"""The "At your scale" result and section, on the figures of a real `--scale medium` run
(2.9.2 → 3.4.0: tests/fixtures/scale-2.9.2-3.4.0-medium.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

from harness.reports.html import render_html
from harness.reports.markdown import render_markdown
from harness.results.model import SCHEMA_PATH, load_results, write_results
from harness.results.phase import Upgrade
from harness.scale.result import HELD_CAVEAT_S, ScaleResult
from harness.verdict import decide
from tests.unit.test_report_writers import full_results

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "scale-2.9.2-3.4.0-medium.json"


def _data() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())  # type: ignore[no-any-return]


def test_the_section_gives_the_store_the_downtime_the_searches_and_the_memory() -> None:
    results = full_results()
    results.scale = ScaleResult(_data())
    markdown = render_markdown(results)
    section = markdown.split("## At your scale", 1)[1].split("\n## ", 1)[0]
    assert "Store: medium: 200 experiments, 20,000 runs" in section
    assert "Seeded in bulk into 2.9.2's own schema: 2,649,401 rows" in section
    assert "**Downtime to plan**: 3.4.0's `mlflow db upgrade` took" in section
    assert "The slowest revision, `" in section and "writes were held up to" in section
    assert "1 of 447 failed: `new runs (0584bdc529eb): deadlock detected`" in section
    assert "| `get_metric_history_long` |" in section and "| `search_runs_at_scale` |" in section
    assert "| old (2.9.2) | 4 |" in section and "| new (3.4.0) | 4 |" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")
            and line.count("|") == 8]
    assert 0 < len(rows) < 15 and "more revisions" in section  # the rest in report.html
    html = render_html(results)
    assert "<h2>At your scale</h2>" in html and html.count("<code>71994744cf8e</code>") == 1
    assert html.count('id="scale-1"') == 1 and "<b>Downtime to plan</b>" in html


def test_a_run_without_it_shows_nothing_and_a_small_store_says_so() -> None:
    assert "At your scale" not in render_markdown(full_results())
    results = full_results()
    data = _data()
    data["store"] = {"size": None, "described": "small: the migration seed only"}
    results.scale = ScaleResult(data)
    section = render_markdown(results).split("## At your scale", 1)[1]
    assert section.lstrip().startswith("Store: small: the migration seed only.")
    assert "Seeded in bulk" not in section.split("\n## ", 1)[0]


def test_writes_held_or_failed_are_a_caveat_and_nothing_blocks() -> None:
    upgrade = Upgrade("2.9.2", "3.4.0")
    data = _data()
    result = ScaleResult(data)
    assert result.blocking(upgrade) == []
    (failed,) = result.caveats(upgrade)
    assert failed.startswith("1 write(s) failed while `mlflow db upgrade` ran: new runs")
    writer = data["migration"]["writer"]
    writer.update(failed=0, errors=[], longest={"kind": "metrics", "revision": "a5b4c3d2e1f0",
                                                "seconds": HELD_CAVEAT_S + 2})
    (held,) = ScaleResult(data).caveats(upgrade)
    assert held.startswith("`mlflow db upgrade` held writes for 12.0s (metrics, from revision "
                           "a5b4c3d2e1f0): plan that downtime")
    writer["longest"]["seconds"] = 0.5
    assert ScaleResult(data).caveats(upgrade) == []


def test_results_with_it_validate_and_read_back(tmp_path: Path) -> None:
    results = full_results()
    results.scale = ScaleResult(_data())
    results.verdict = decide(results)
    assert any("write(s) failed" in reason for reason in results.verdict.reasons)
    write_results(results, tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    loaded = load_results(tmp_path / "results.json")
    assert loaded.scale is not None and loaded.scale.data == _data()


def test_it_is_composed_from_the_store_the_drill_and_the_benchmark() -> None:
    data = _data()
    upgrade = {"seconds": 3.0, "from_revision": "a", "to_revision": "b",
               "timing": {"startup_seconds": 2.0, "exit_seconds": 0.5, "revisions": []},
               "writer": {**data["migration"]["writer"], "revisions": [{"revision": "b"}]},
               "database_bytes": {"before": 1, "peak": 2, "after": 2}}
    operations = {op: {"old_median_s": s, "new_median_s": s * 1.1, "ratio": 1.1, "low": 1.0,
                       "high": 1.2, "verdict": "unchanged", "rounds": 4}
                  for op, s in (("get_run", 0.01), ("create_run", 0.5),
                                ("search_runs_at_scale", 0.4), ("get_metric_history_long", 3.0))}
    benchmark = {"server_side": {"operations": operations},
                 "memory": {"servers": {"from": {"workers": 4}, "to": {"workers": 2}}}}
    composed = ScaleResult.compose(copy.deepcopy(data["store"]),
                                   {"upgrade": upgrade, "rows_checked": 9}, benchmark).data
    assert composed["migration"]["revisions"] == [{"revision": "b"}]
    assert composed["migration"]["rows_checked"] == 9
    assert [s["operation"] for s in composed["searches"]] == [
        "get_metric_history_long", "search_runs_at_scale", "get_run"]  # reads, slowest first
    assert composed["memory"] == {"old": {"workers": 4}, "new": {"workers": 2}}
    assert "migration" not in ScaleResult.compose({}, {}, None).data
