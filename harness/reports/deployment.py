"""The "Deployment" section: each side as described, whether its public URL reaches it, the
drift between the two, and each server's health under the run. One set of tables, rendered by
report.md (bounded) and report.html (whole); nothing when the run has no deployment result."""

from __future__ import annotations

from dataclasses import dataclass

from harness.deploy.result import DeploymentResult, SideDeployment
from harness.reports.bounds import first_line, head, more
from harness.results.model import RunResults

SIDE_NAMES = {"from": "old", "to": "new"}
DRIFT_SHOWN = 40
RESTARTS_SHOWN = 5
CELL = 160


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    intro: str = ""
    same: int = 0  # rows left out because both sides agree


def side_line(side: SideDeployment, version: str) -> str:
    parts = [f"described in `{side.source}`" if side.source else "not described"]
    if side.public_url:
        headers = ", ".join(side.ingress_headers) or "no forwarded headers"
        stripped = "; the ingress strips its path" if side.strip_prefix else ""
        parts.append(f"public URL {side.public_url} (Host and {headers}{stripped})")
    if side.server_options:
        parts.append(f"server options `{' '.join(side.server_options)}`")
    if side.environment:
        parts.append("environment " + ", ".join(side.environment))
    auth_file = side.auth.get("file", "")
    if auth_file and not auth_file.startswith("("):  # "(the harness's)": not the team's
        parts.append(f"basic-auth from `{auth_file}` (default_permission "
                     f"{side.auth.get('default_permission', '')})")
    if side.image:
        parts.append(f"image `{side.image}`")
    if side.left_out:
        parts.append("left out (the run's own): " + "; ".join(side.left_out))
    return f"{SIDE_NAMES.get(side.role, side.role)} ({version}): " + "; ".join(parts)


def tables(result: DeploymentResult) -> list[Table]:
    found = []
    if result.reach:
        found.append(Table("Public URL", ["side", "URL", "through it", "by 127.0.0.1", "fix"], [
            [f"{SIDE_NAMES.get(r.role, r.role)} ({r.version})", r.url, r.public or "—",
             r.loopback, r.fix or ("—" if not r.refused else "not catalogued")]
            for r in result.reach]))
    if result.drift:
        differing = [d for d in result.drift if d.old != d.new]
        found.append(Table(
            "Drift", ["setting", "old", "new", "note"],
            [[("⚠ " if d.flagged else "") + d.setting, d.old, d.new, d.note] for d in differing],
            "⚠ marks a difference you may not intend.", len(result.drift) - len(differing)))
    for finding in result.health:
        rows = [[r.test, r.side, r.before, r.after] for r in finding.reruns]
        restarts = finding.restarts[:RESTARTS_SHOWN]
        left = max(finding.restart_count, len(finding.restarts)) - len(restarts)
        intro = "\n".join([finding.line()] + [f"- log: `{first_line(line, CELL)}`"
                                              for line in restarts]
                          + ([f"- … and {left} more worker restart(s)"] if left else []))
        found.append(Table(f"Server health: {finding.server}",
                           ["re-run check", "cell", "first run", "with the remedy"], rows, intro))
    return found


def deployment_section(results: RunResults) -> list[str]:
    """report.md's section (bounded)."""
    result = results.deployment
    if result is None:
        return []
    versions = {s.role: s.mlflow_version for s in results.sides}
    lines = ["## Deployment", ""]
    lines += [f"- {side_line(side, versions.get(side.role, ''))}" for side in result.sides]
    lines += [""] if result.sides else []
    for table in tables(result):
        lines += [f"**{table.title}**", ""] + ([table.intro, ""] if table.intro else [])
        shown, hidden = head(table.rows, DRIFT_SHOWN)
        if shown:
            lines += ["| " + " | ".join(table.headers) + " |",
                      "|" + "---|" * len(table.headers)]
            lines += ["| " + " | ".join(first_line(cell, CELL) or "—" for cell in row) + " |"
                      for row in shown]
            lines += [""]
        lines += more(hidden, f"{table.title.lower()} rows")
        if table.same:
            lines += [f"{table.same} setting(s) the same on both sides.", ""]
    return lines
