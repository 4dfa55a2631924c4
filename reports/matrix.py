"""The client × server compatibility matrix section of report.md (from `results.matrix`)."""

from __future__ import annotations

from typing import Any

from harness.results.model import RunResults
from reports.sections import cell

ICONS = {"passed": "✅", "failed": "❌", "not_applicable": "➖"}
LONGEST = 300  # characters of an error in the report (results.json keeps it whole)


def _label(found: dict[str, Any]) -> str:
    text = f"{ICONS[found['status']]} {found['status'].replace('_', ' ')}"
    if found["status"] == "failed":
        failed = len(found["failures"])
        total = sum(found["counts"].values())
        known = sum(1 for f in found["failures"] if f["defect"])
        text += f" ({failed} of {total}"
        text += ": known defect)" if known == failed else ")"
        if found["advisory"]:
            text += ", advisory"
    return text


def _short(text: str) -> str:
    return text if len(text) <= LONGEST else text[:LONGEST] + "…"


def matrix_section(results: RunResults) -> list[str]:
    matrix = results.matrix
    cells: list[dict[str, Any]] = matrix.get("cells", []) if matrix else []
    if not cells:
        return []
    servers: list[str] = matrix["servers"]
    by_pair = {(c["client"], c["server"]): c for c in cells}
    lines = ["## Client × server compatibility", "",
             "Every client-side scenario, for each client version against each server version.",
             "", "| client ↓ · server → | " + " | ".join(servers) + " |",
             "|---|" + "---|" * len(servers)]
    for client in matrix["clients"]:
        row = [_label(by_pair[(client, s)]) for s in servers]
        lines.append(f"| **{client}** | " + " | ".join(row) + " |")
    scenarios = sorted({name for c in cells for name in c["scenarios"]})
    pairs = [(c["client"], c["server"]) for c in cells]
    lines += ["", "<details><summary>Per scenario</summary>", "",
              "| scenario | " + " | ".join(f"{a} → {b}" for a, b in pairs) + " |",
              "|---|" + "---|" * len(pairs)]
    for name in scenarios:
        row = [ICONS[by_pair[p]["scenarios"].get(name, "not_applicable")] for p in pairs]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    lines += ["", "</details>", ""]
    for found in cells:
        if found["status"] != "failed":
            continue
        why = (" — *advisory*: the client is newer than the server, which a rolling upgrade "
               "avoids by upgrading servers first" if found["advisory"] else "")
        lines += [f"**{found['client']} client → {found['server']} server** failed{why}:", ""]
        for failure in found["failures"]:
            defect = f" (known defect {failure['defect']})" if failure["defect"] else ""
            error = str(failure["error"]).split(": ", 1)[-1]
            if failure["call"] and error in failure["call"]:  # the call says it all
                what = f"failing call `{cell(_short(failure['call']))}`"
            else:
                what = f"`{cell(_short(failure['error']))}`" + (
                    f" — failing call `{cell(_short(failure['call']))}`"
                    if failure["call"] else "")
            lines.append(f"- `{cell(failure['test'])}`{defect}: {what}")
        lines.append("")
    return lines
