"""The "Your traffic" section (report.md and report.html), first after the verdict when the run
replayed the team's traffic (`--replay`): what was replayed, the differences beyond the noise
(undocumented first, status changes first within them), documented changes, known defects and
findings, requests that failed on every server, and the per-route timing."""

from __future__ import annotations

from html import escape
from typing import Any

from harness.reports.bounds import HTML, code, first_line, head, more
from harness.results.model import RunResults
from harness.traffic.result import DEFECT, EXPECTED, FINDING, UNEXPECTED, TrafficResult

ROWS = 12
TIMING_ROWS = 10
VALUE = 50
TITLES = {UNEXPECTED: "undocumented difference(s): A and B agree, the new version differs; "
                      "they fail the run",
          DEFECT: "known defect(s) of the new version",
          EXPECTED: "documented change(s)",
          FINDING: "finding(s): true and worth acting on, not failures by themselves"}


def _replayed(traffic: TrafficResult, old: str, new: str) -> str:
    data = traffic.data
    replay, servers = data.get("replay", {}), data.get("servers", {})
    files = ", ".join(f"`{name.rsplit('/', 1)[-1]}`" for name in data["recording"]["files"])
    skipped = sum(replay.get("skipped", {}).values())
    text = (f"Replayed {replay.get('replayed', 0):,} of {replay.get('read', 0):,} requests "
            f"({files}) against {old} (A), {old} (B) and {new} in {replay.get('seconds', 0):.0f}s "
            f"({replay.get('rate_per_s', 0):.0f}/s), from {servers.get('starting_state', '?')}. "
            f"{data.get('noise', {}).get('fields', 0)} field(s) learned as noise (they differ "
            f"between the two {old} servers) are not compared.")
    if skipped:
        text += f" {skipped:,} request(s) skipped: " + "; ".join(
            f"{reason} ({count:,})" for reason, count in replay["skipped"].items()) + "."
    if data.get("stopped"):
        text += f" Stopped after {data['stopped']}."
    if data["recording"].get("lacks"):
        text += f" Note: {data['recording']['lacks']}."
    if data.get("faults"):
        text += " Planted fault(s): " + ", ".join(f"`{f}`" for f in data["faults"]) + "."
    return text


def _rows(items: list[dict[str, Any]], classification: str) -> list[str]:
    lines = [f"**{len(items)} {TITLES[classification]}**", "",
             "| Route | Field | Requests | Old | New | Example / why |",
             "|---|---|---|---|---|---|"]
    shown, left = head(items, ROWS)
    for item in shown:
        example = (item.get("examples") or [{}])[0]
        why = first_line(item.get("summary", ""), 120) if item.get("catalog_id") else \
            code(example.get("request", ""), 80)
        name = f"[{item['catalog_id']}]({(item.get('source') or '').split(' ')[0]}): " \
            if item.get("catalog_id") and item.get("source") else \
            (f"{item['catalog_id']}: " if item.get("catalog_id") else "")
        lines.append(f"| `{item['route']}` | {code(item['field'], 60)} | {item['count']} of "
                     f"{item['seen']} | {code(example.get('old', ''), VALUE)} | "
                     f"{code(example.get('new', ''), VALUE)} | {name}{why} |")
    return lines + [""] + more(left, "differences of this kind") + ([""] if left else [])


def _timing(traffic: TrafficResult, old: str, new: str) -> list[str]:
    timing = traffic.data.get("timing", {})
    routes = timing.get("routes", {})
    if not routes:
        return []
    lines = [f"Timing per route, {new}/{old} with its 95% interval (the benchmark's "
             f"statistics, each request a round), and {old}/{old} beside it; slower than "
             f"{1 + timing.get('threshold', 0.2):.2f}× is a caveat:", "",
             "| Route | Requests | New/old | Old/old | Median old → new |", "|---|---|---|---|---|"]
    ranked = sorted(routes.items(), key=lambda item: -item[1]["ratio"])
    shown, left = head(ranked, TIMING_ROWS)
    for route, item in shown:
        mark = " ❌" if item["verdict"] == "regression" else ""
        ref = item["old_vs_old"]
        lines.append(f"| `{route}` | {item['requests']:,} | {item['ratio']:.2f}× "
                     f"[{item['low']:.2f}, {item['high']:.2f}]{mark} | {ref['ratio']:.2f}× "
                     f"[{ref['low']:.2f}, {ref['high']:.2f}] | {item['old_median_ms']:.1f} → "
                     f"{item['new_median_ms']:.1f} ms |")
    return lines + [""] + more(left, "routes") + ([""] if left else [])


def traffic_section(results: RunResults) -> list[str]:
    traffic = results.traffic
    if traffic is None:
        return []
    if traffic.data.get("skipped"):
        return ["## Your traffic", "", f"Not replayed: {traffic.data['skipped']}", ""]
    old, new = results.sides[0].mlflow_version, results.sides[1].mlflow_version
    lines = ["## Your traffic", "", _replayed(traffic, old, new), ""]
    if not traffic.differences:
        lines += [f"No difference beyond the noise: {new} answered your traffic as {old} "
                  "did.", ""]
    for classification in (UNEXPECTED, DEFECT, EXPECTED, FINDING):
        items = traffic.of(classification)
        if items:
            lines += _rows(items, classification)
    failed = traffic.data.get("failed_everywhere", [])
    if failed:
        lines += ["Failed on every server alike (not differences; a request naming what the "
                  "starting state lacks: replay with `--from-dump`): " + ", ".join(
                      f"`{f['route']}` {f['status']} ×{f['count']}" for f in failed[:6])
                  + (" …" if len(failed) > 6 else ""), ""]
    return lines + _timing(traffic, old, new) + [
        f"Every difference with its examples, and every noise field: {HTML}.", ""]


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def traffic_html(results: RunResults) -> str:
    traffic = results.traffic
    if traffic is None:
        return ""
    if traffic.data.get("skipped"):
        return f"<h2>Your traffic</h2><p>Not replayed: {_e(traffic.data['skipped'])}</p>"
    old, new = results.sides[0].mlflow_version, results.sides[1].mlflow_version
    rows = []
    for item in traffic.differences:
        examples = "".join(f"<li><code>{_e(e['request'])}</code> {_e(e.get('body', ''))}: "
                           f"<code>{_e(e['old'])}</code> → <code>{_e(e['new'])}</code></li>"
                           for e in item.get("examples", []))
        rows.append(f"<tr><td>{_e(item['classification'])}</td><td><code>{_e(item['route'])}"
                    f"</code></td><td><code>{_e(item['field'])}</code></td><td>{item['count']} "
                    f"of {item['seen']}</td><td>{_e(item.get('catalog_id', ''))} "
                    f"{_e(item.get('summary', ''))}</td><td><ul>{examples}</ul></td></tr>")
    table = ("<table id=\"traffic\"><thead><tr><th>class</th><th>route</th><th>field</th>"
             "<th>requests</th><th>why</th><th>examples</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>") if rows else \
        "<p>No difference beyond the noise.</p>"
    noise = "".join(f"<li><code>{_e(n)}</code></li>"
                    for n in traffic.data.get("noise", {}).get("shown", []))
    timing = "".join(f"<li><code>{_e(route)}</code>: {item['ratio']:.2f}× [{item['low']:.2f}, "
                     f"{item['high']:.2f}] ({_e(item['verdict'])}; old/old "
                     f"{item['old_vs_old']['ratio']:.2f}×)</li>" for route, item in
                     traffic.data.get("timing", {}).get("routes", {}).items())
    return (f"<h2>Your traffic</h2><p>{_e(_replayed(traffic, old, new))}</p>{table}"
            f"<details><summary>Fields learned as noise</summary><ul>{noise}</ul></details>"
            f"<details><summary>Timing per route (new/old)</summary><ul>{timing}</ul>"
            "</details>")
