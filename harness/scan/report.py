"""What the breaking-change scan found: the scan phase's typed result (`results.json`: `scan`).

A removed or changed API your code uses blocks the upgrade; a deprecated one is a caveat (the
call still works today), and so is a documented behaviour change at a place that may rely on it
("behaviour changed: check": a pointer, not a break).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.results.phase import Upgrade, named
from harness.scan.findings import Finding


@dataclass
class ScanReport:
    """What the scan found, and what it took."""

    old_version: str
    new_version: str
    paths: list[str]
    findings: list[Finding]
    api_changes: dict[str, int]
    files_scanned: int
    uses: int
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def breaking(self) -> list[Finding]:
        return [f for f in self.findings if f.breaking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.old_version, "to": self.new_version, "paths": self.paths,
            "files_scanned": self.files_scanned, "uses": self.uses,
            "api_changes": self.api_changes, "timings": self.timings,
            "findings": [f.to_dict() for f in self.findings],
        }

    @property
    def checks(self) -> list[Finding]:
        """Behaviour changes to check: pointers, not breaks."""
        return [f for f in self.findings if f.check]

    def headline(self) -> str:
        checks = f", {len(self.checks)} behaviour changed: check" if self.checks else ""
        return (f"scan {self.old_version} → {self.new_version}: {len(self.breaking)} breaking, "
                f"{len(self.deprecations)} deprecated{checks} ({self.uses} MLflow uses in "
                f"{self.files_scanned} files)")

    def markdown(self) -> str:
        lines = [f"# Your code: {self.old_version} → {self.new_version}", "",
                 self.headline() + ".", ""]
        lines += _by_file([f for f in self.findings if not f.check], "##")
        if self.checks:
            lines += ["## Behaviour changed: check", "",
                      "Not breaks: places that use a value or an API whose behaviour changed; "
                      "check that the code does not rely on the old behaviour.", ""]
            lines += _by_file(self.checks, "###")
        if not self.findings:
            lines += ["Nothing in this code meets a removed, changed or deprecated API.", ""]
        counts = ", ".join(f"{k} {v}" for k, v in self.api_changes.items())
        lines += [f"API changes between the versions, all told: {counts}.", ""]
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanReport:
        return cls(data.get("from", ""), data.get("to", ""), list(data.get("paths", [])),
                   [Finding(**f) for f in data.get("findings", [])],
                   dict(data.get("api_changes", {})), int(data.get("files_scanned", 0)),
                   int(data.get("uses", 0)), dict(data.get("timings", {})))

    @property
    def deprecations(self) -> list[Finding]:
        return [f for f in self.findings if not f.breaking and not f.check]

    def blocking(self, upgrade: Upgrade) -> list[str]:
        if not self.breaking:
            return []
        return [f"{len(self.breaking)} place(s) in your code use APIs "
                f"{self.new_version or 'the new version'} removed or changed: "
                + named([f.place() for f in self.breaking])]

    def caveats(self, upgrade: Upgrade) -> list[str]:
        reasons = []
        if self.deprecations:
            reasons.append(f"{len(self.deprecations)} place(s) in your code use deprecated APIs: "
                           + named([f.place() for f in self.deprecations]))
        if self.checks:
            reasons.append(f"{len(self.checks)} place(s) in your code to check, where "
                           f"{self.new_version or 'the new version'} changed behaviour: "
                           + named([f.place() for f in self.checks]))
        return reasons


def _by_file(findings: list[Finding], heading: str) -> list[str]:
    lines: list[str] = []
    by_file: dict[str, list[Finding]] = {}
    for item in findings:
        by_file.setdefault(item.file, []).append(item)
    for file, items in by_file.items():
        lines += [f"{heading} `{file}`", ""]
        for item in items:
            more = f" (also lines {', '.join(map(str, item.also_at))})" if item.also_at else ""
            lines.append(f"- line {item.line}{more}: `{item.api}` — {item.what}")
            if item.catalog:
                lines.append(f"  - {item.catalog}: {item.summary} ({item.source})")
        lines.append("")
    return lines
