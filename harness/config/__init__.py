"""The run's configuration: every option declared once (`options.py`), read from the command
line (`parser.py`) and the config file (`file.py`), validated into typed parts per concern
(`sides.py`, `model.py`) by `build.py`."""

from harness.config.build import build_config
from harness.config.model import (
    BenchConfig,
    DockerImages,
    EnvironmentsConfig,
    ExternalTargets,
    MatrixConfig,
    Provider,
    ReportConfig,
    RunConfig,
    ScanConfig,
    ScenarioConfig,
    ServicesConfig,
    check_writable,
    default_cache_dir,
)
from harness.config.sides import SIDES, ClientConfig, SideConfig

__all__ = [
    "SIDES", "BenchConfig", "ClientConfig", "DockerImages", "EnvironmentsConfig",
    "ExternalTargets", "MatrixConfig", "Provider", "ReportConfig", "RunConfig", "ScanConfig",
    "ScenarioConfig", "ServicesConfig", "SideConfig", "build_config", "check_writable",
    "default_cache_dir",
]
