"""The client × server compatibility matrix section of report.md (from `results.matrix`)."""

from __future__ import annotations

from harness.reports.bounds import code, head, more
from harness.reports.sections import cell
from harness.results.matrix import CellFailure, MatrixCell
from harness.results.model import RunResults

ICONS = {"passed": "✅", "failed": "❌", "not_applicable": "➖"}
LONGEST = 160  # characters of an error's first line (report.html and results.json keep it all)
PER_CELL = 5  # failures listed per failed cell
LISTED = 10  # failures listed over all cells


def _label(found: MatrixCell) -> str:
    text = f"{ICONS[found.status]} {found.status.replace('_', ' ')}"
    if found.status == "failed":
        failed = len(found.failures)
        total = sum(found.counts.values())
        known = sum(1 for f in found.failures if f.defect)
        text += f" ({failed} of {total}"
        text += ": known defect)" if known == failed else ")"
        if found.advisory:
            text += ", advisory"
    return text


def matrix_section(results: RunResults) -> list[str]:
    matrix = results.matrix
    cells = matrix.cells
    if not cells:
        return []
    servers = matrix.servers
    by_pair = {(c.client, c.server): c for c in cells}
    lines = ["## Client × server compatibility", "",
             "Every client-side scenario, for each client version against each server version.",
             "", "| client ↓ · server → | " + " | ".join(servers) + " |",
             "|---|" + "---|" * len(servers)]
    for client in matrix.clients:
        row = [_label(by_pair[(client, s)]) for s in servers]
        lines.append(f"| **{client}** | " + " | ".join(row) + " |")
    scenarios = sorted({name for c in cells for name in c.scenarios})
    pairs = [(c.client, c.server) for c in cells]
    lines += ["", "<details><summary>Per scenario</summary>", "",
              "| scenario | " + " | ".join(f"{a} → {b}" for a, b in pairs) + " |",
              "|---|" + "---|" * len(pairs)]
    for name in scenarios:
        row = [ICONS[by_pair[p].scenarios.get(name, "not_applicable")] for p in pairs]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    lines += ["", "</details>", ""]
    budget = LISTED
    for found in cells:
        if found.status != "failed":
            continue
        why = (" — *advisory*: the client is newer than the server, which a rolling upgrade "
               "avoids by upgrading servers first" if found.advisory else "")
        lines += [f"**{found.client} client → {found.server} server** failed{why}:", ""]
        shown, left = head(found.failures, max(0, min(PER_CELL, budget)))
        budget -= len(shown)
        lines += [_failure(failure) for failure in shown]
        lines += more(left, "failures of this cell")
        lines.append("")
    return lines


def _failure(failure: CellFailure) -> str:
    """`- test (known defect …): first line of the error — failing call …`"""
    defect = f" (known defect {failure.defect})" if failure.defect else ""
    error = str(failure.error).split(": ", 1)[-1]
    if failure.call and error in failure.call:  # the call says it all
        what = f"failing call {code(failure.call, LONGEST)}"
    else:
        what = code(failure.error, LONGEST) + (
            f" — failing call {code(failure.call, LONGEST)}" if failure.call else "")
    return f"- `{cell(failure.test)}`{defect}: {what}"
