"""Option values → a validated `RunConfig`: the one place a run's configuration is made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.config.model import (
    BenchConfig,
    EnvironmentsConfig,
    MatrixConfig,
    ReportConfig,
    RunConfig,
    ScanConfig,
    ScenarioConfig,
    ServicesConfig,
    project_from,
)
from harness.config.options import for_command
from harness.config.parser import resolve
from harness.config.sides import sides_from
from harness.traffic.config import TrafficConfig


def build_config(scenario_args: Sequence[str] = (), **given: Any) -> RunConfig:
    """A RunConfig from option values by their names (`from_mlflow="2.9.2"`, `out=…`,
    `no_bench=True`); what is not given takes its default. `scenario_args` are the options
    the scenario folders declare, as pytest arguments. Raises UsageError/SpecError."""
    options = for_command("run")
    known = {dest for option in options for _side, dest in option.instances()}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"build_config: no option {', '.join(unknown)}")
    values = resolve(options, given, None)
    sides = sides_from(values)
    matrix = MatrixConfig.from_values(values, sides)
    return RunConfig(
        sides=sides,
        environments=EnvironmentsConfig.from_values(values),
        services=ServicesConfig.from_values(values),
        scenarios=ScenarioConfig.from_values(values, tuple(scenario_args)),
        matrix=matrix,
        bench=BenchConfig.from_values(values, matrix.only),
        project=project_from(values),  # before the scan, which defaults to the project
        scan=ScanConfig.from_values(values),
        reports=ReportConfig.from_values(values),
        traffic=TrafficConfig.from_values(values),
    )
