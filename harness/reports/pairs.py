"""The index of a merge over several upgrades (tox's `pair-*` environments): one line per
pair with its verdict, each pair's own reports in a folder named after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.matrix import check_counts, counts_line
from harness.reports.bounds import first_line, fit
from harness.reports.markdown import VERDICT_ICON
from harness.results.merge import upgrade_slug
from harness.results.model import RunResults
from harness.verdict import decide

REASONS_SHOWN = 3


def write_pairs_index(pairs: list[RunResults], out: Path) -> None:
    """`report.md` (a table of the upgrades and their first reasons) and `pairs.json`."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# MLflow upgrade checks", "", "| upgrade | verdict | checks | report |",
             "|---|---|---|---|"]
    index: list[dict[str, Any]] = []
    reasons: list[tuple[str, list[str]]] = []
    for pair in pairs:
        verdict = decide(pair)
        old, new = (s.mlflow_version or s.spec for s in pair.sides[:2])
        slug = upgrade_slug(pair)
        lines.append(f"| {old} → {new} | {VERDICT_ICON[verdict.level]} {verdict.headline} | "
                     f"{counts_line(check_counts(pair.checks), skipped=False)} | "
                     f"[{slug}/report.md]({slug}/report.md) |")
        index.append({"from": old, "to": new, "folder": slug, "status": pair.status.value,
                      "exit_code": pair.exit_code, "verdict": verdict.to_dict()})
        reasons.append((f"{old} → {new}", verdict.reasons[:REASONS_SHOWN]))
    lines.append("")
    for upgrade, shown in reasons:
        if shown:
            lines += [f"**{upgrade}**", ""]
            lines += [f"- {first_line(reason, 300)}" for reason in shown] + [""]
    (out / "report.md").write_text(fit("\n".join(lines)))
    (out / "pairs.json").write_text(json.dumps(index, indent=1))
