"""The scenarios' checks and the old-vs-new diff as one phase result.

Blocking: a failed check outside an advisory matrix cell, an undocumented behaviour change, or
no check at all. Caveats: known defects of the new version, failing advisory cells (the
matrix), documented behaviour changes, findings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.matrix import blocking_failures
from harness.results.matrix import Matrix
from harness.results.model import CheckResult, DiffEntry, Status
from harness.results.phase import Upgrade, named


@dataclass
class ScenarioChecks:
    checks: list[CheckResult]
    diff: list[DiffEntry]
    matrix: Matrix

    def to_dict(self) -> dict[str, Any]:
        """As results.json holds them: `checks`, `diff` and `matrix` at its top level."""
        return {"checks": [asdict(c) for c in self.checks],
                "diff": [asdict(d) for d in self.diff], "matrix": self.matrix.to_dict()}

    def blocking(self, upgrade: Upgrade) -> list[str]:
        reasons = []
        if not self.checks:
            reasons.append("no scenario check ran (a -k that selects nothing, or "
                           "--no-builtin without scenarios)")
        failed = blocking_failures(self.checks)
        if failed:
            reasons.append(f"{len(failed)} check(s) failed: " + named(
                [f"{c.scenario} on {c.side} ({c.server_version or c.mlflow_version})"
                 for c in failed]))
        unexpected = [d for d in self.diff if d.classification == "unexpected"]
        if unexpected:
            reasons.append(f"{len(unexpected)} undocumented behaviour change(s) between the "
                           "versions: " + named(sorted({d.path for d in unexpected})))
        return reasons

    def caveats(self, upgrade: Upgrade) -> list[str]:
        reasons = []
        defects = sorted({c.defect.get("id", "") for c in self.checks  # the new version alone
                          if c.status is Status.KNOWN_DEFECT and c.server_version == upgrade.new
                          and c.client_version in ("", upgrade.new)})
        if defects:
            reasons.append(f"known defect(s) of {upgrade.new} reproduced: " + named(defects))
        reasons += self.matrix.caveats(upgrade)
        expected = sorted({d.catalog_id for d in self.diff if d.classification == "expected"})
        if expected:
            reasons.append(f"{len(expected)} documented behaviour change(s) your code may rely "
                           "on: " + named(expected))
        findings = sorted({d.catalog_id for d in self.diff if d.classification == "finding"})
        if findings:
            reasons.append(f"{len([d for d in self.diff if d.classification == 'finding'])} "
                           "finding(s): " + named(findings))
        return reasons
