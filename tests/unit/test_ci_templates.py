"""The CI templates in examples/ci/ pass their linters and shard what tox.ini shards.

actionlint (with shellcheck on every `run:` script) checks the GitHub Actions workflow;
check-jsonschema's vendored GitLab CI schema (offline) and shellcheck check the GitLab one.
All three come with the `test` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
# The test extra's tools live beside the interpreter, which need not be on PATH.
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _tool(name: str) -> str:
    found = shutil.which(name, path=ENV["PATH"])
    assert found, f"{name} not installed: python3 -m pip install -e '.[test]'"
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120,
                          cwd=ROOT)


def _tox_clients() -> list[str]:
    found = re.search(r"^\[testenv:client-\{([^}]+)\}\]", (ROOT / "tox.ini").read_text(), re.M)
    assert found, "tox.ini has no client-{…} environments"
    return found.group(1).split(",")


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_github_workflow_passes_actionlint_with_shellcheck(tmp_path: Path) -> None:
    _tool("shellcheck")  # actionlint checks `run:` scripts only when shellcheck is found
    lint = _run(_tool("actionlint"), "-no-color", str(GITHUB))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("matrix.shard }}", "matrix.shrad }}", 1)
                      .replace('"$SHARD" = upgrade', "$SHARD = upgrade", 1))
    lint = _run(_tool("actionlint"), "-no-color", str(broken))
    assert lint.returncode == 1 and "shrad" in lint.stdout, "actionlint is not checking"
    assert "SC2086" in lint.stdout, "shellcheck is not checking the run: scripts"


def test_the_gitlab_pipeline_passes_the_gitlab_ci_schema_offline(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci"]
    check = _run(*command, str(GITLAB))
    assert check.returncode == 0, check.stdout + check.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITLAB.read_text().replace("junit: report/junit.xml",
                                                 "junitxml: report/junit.xml"))
    check = _run(*command, str(broken))
    assert check.returncode == 1 and "junitxml" in check.stdout, "the schema is not checking"


def test_the_gitlab_scripts_pass_shellcheck(tmp_path: Path) -> None:
    pipeline = _load(GITLAB)
    for name, job in pipeline.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        template = pipeline.get(job.get("extends", ""), {})
        lines = [*job.get("before_script", template.get("before_script", [])), *job["script"]]
        script = tmp_path / f"{name.lstrip('.')}.sh"
        script.write_text("#!/bin/bash\nset -eo pipefail\n" + "\n".join(lines) + "\n")
        check = _run(_tool("shellcheck"), "--severity=style", str(script))
        assert check.returncode == 0, f"job {name}:\n{check.stdout}"


def test_both_templates_shard_the_tox_client_versions() -> None:
    clients = _tox_clients()
    github = _load(GITHUB)["jobs"]
    shards = github["shard"]["strategy"]["matrix"]["shard"]
    assert shards == ["upgrade", *(f"client-{v}" for v in clients)]
    assert int(github["report"]["env"]["SHARDS"]) == len(shards)
    gitlab = _load(GITLAB)
    assert gitlab["client"]["parallel"]["matrix"] == [{"CLIENT": clients}]
    assert int(gitlab["variables"]["SHARDS"]) == len(clients) + 1
    assert gitlab["report"]["artifacts"]["reports"]["junit"] == "report/junit.xml"


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_each_template_merges_the_shards_and_exits_with_the_verdict(path: Path) -> None:
    text = path.read_text()
    assert "mlflow-upgrade-harness report shards --out report" in text
    assert "--matrix-only" in text and "--no-matrix" in text
    assert 'exit "$code"' in text or 'exit "$CODE"' in text


def test_the_ci_docs_show_excerpts_of_the_templates_as_they_are() -> None:
    """Each YAML block of docs/ci.md's templates section is the template's own lines, in order."""
    doc = (ROOT / "docs" / "ci.md").read_text()
    section = doc[doc.index("\n## The templates\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    for block, path in zip(blocks, (GITHUB, GITLAB), strict=True):
        lines = iter(path.read_text().splitlines())
        for line in block.splitlines():
            assert any(line == candidate for candidate in lines), f"{path.name}: {line!r}"


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_each_template_installs_a_pinned_harness_and_checks_the_teams_repository(
        path: Path) -> None:
    """The checkout is the team's repository: the harness comes from a pinned requirement
    (not `.`), and the full-check shard runs the team's suite and scan (`--project`)."""
    loaded = _load(path)
    variables = loaded["env"] if path == GITHUB else loaded["variables"]
    harness = variables["HARNESS"]
    assert harness != "." and re.match(r"^mlflow-upgrade-harness @ \S+@v?[\w.]+$", harness)
    assert variables["PROJECT"] == "."
    text = path.read_text()
    assert text.count('--project "$PROJECT"') == 1
    assert 'pip install "$HARNESS"' in text
