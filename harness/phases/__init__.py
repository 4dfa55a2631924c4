"""The phases of a run, in the order they run: each says when it is enabled (`enabled`) and
does its work against the provisioned session (`run`); `harness/run.py` loops over them.

A new phase is a module here with a class like these, and one entry in `PHASES`.
"""

from harness.phases.base import Phase, RunContext
from harness.phases.benchmark import BenchmarkPhase
from harness.phases.deployment import DeploymentPhase, ServerHealthPhase
from harness.phases.project import ProjectPhase
from harness.phases.replay import ReplayPhase
from harness.phases.scale import ScalePhase
from harness.phases.scan import ScanPhase
from harness.phases.scenarios import ScenariosPhase

PHASES: tuple[Phase, ...] = (ScanPhase(), DeploymentPhase(), ScenariosPhase(), ProjectPhase(),
                             ReplayPhase(), ServerHealthPhase(), BenchmarkPhase(), ScalePhase())

__all__ = ["PHASES", "Phase", "RunContext"]
