"""The breaking-change scan: API surfaces read statically, their changes, the uses in code, and
the findings (`file:line`, API, what changed, catalog entry)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.scan.catalog import load_api_catalog
from harness.scan.changes import (
    CLI_REMOVED,
    MOVED,
    PARAM_DEPRECATED,
    PARAM_POSITION,
    PARAM_REMOVED,
    PARAM_REQUIRED,
    REMOVED,
    call_changes,
    diff_surfaces,
    object_change,
)
from harness.scan.extract import extract, surface_for_env
from harness.scan.findings import find
from harness.scan.surface import Surface
from harness.scan.uses import find_uses, python_uses, text_uses

OLD_PKG = {
    "__init__.py": '''
        from pkg.models import evaluate
        from pkg.tracking import Client
        ''',
    "models/__init__.py": '''
        from pkg.models.base import evaluate, Threshold
        ''',
    "models/base.py": '''
        class Threshold:
            """A threshold.

            :param higher_is_better:
                .. deprecated:: 2.3.0
                    Use ``greater_is_better`` instead.
            """

            def __init__(self, threshold=None, greater_is_better=None, higher_is_better=None):
                pass


        def evaluate(model, data, *, baseline_model=None, custom_metrics=None, targets=None):
            pass
        ''',
    "tracking.py": '''
        class Client:
            def __init__(self, uri=None):
                pass

            def list_artifacts(self, run_id, path=None):
                pass

            def get_run(self, run_id):
                pass
        ''',
    "fastai/__init__.py": '''
        def log_model(model, artifact_path):
            pass
        ''',
    "flavor.py": '''
        def log_model(model, artifact_path, conda_env=None):
            pass
        ''',
    "legacy.py": '''
        class Mover:
            pass
        ''',
    "cli.py": '''
        import click


        @click.group("deployments")
        def commands():
            pass


        @commands.command("start-server")
        def start_server():
            pass


        @commands.command("create")
        def create():
            pass
        ''',
}

NEW_PKG = {
    "__init__.py": '''
        from pkg.models import evaluate
        from pkg.tracking import Client
        ''',
    "models/__init__.py": '''
        from pkg.models.wrapper import evaluate
        from pkg.models.base import Threshold
        ''',
    "models/wrapper.py": '''
        import functools

        from pkg.models.base import evaluate as inner


        @functools.wraps(inner)
        def evaluate(*args, **kwargs):
            return inner(*args, **kwargs)
        ''',
    "models/base.py": '''
        from pkg.annotations import deprecated


        class Threshold:
            def __init__(self, threshold=None, greater_is_better=None):
                pass


        def evaluate(model, data, *, targets=None, extra_metrics=None):
            pass


        @deprecated(since="3.0.0", alternative="pkg.models.evaluate")
        def old_helper():
            pass
        ''',
    "annotations.py": '''
        def deprecated(alternative=None, since=None):
            return lambda f: f
        ''',
    "tracking.py": '''
        class Client:
            def __init__(self, uri=None):
                pass

            def list_artifacts(self, run_id, path=None):
                pass

            def get_run(self, run_id, include=None, *, token):
                pass
        ''',
    "flavor.py": '''
        def log_model(model, artifact_path=None, conda_env=None, name=None):
            """Log.

            Args:
                model: The model.
                artifact_path: Deprecated. Use `name` instead.
                name: The name.
            """
        ''',
    "elsewhere.py": '''
        class Mover:
            pass
        ''',
    "cli.py": '''
        import click


        @click.group("deployments")
        def commands():
            pass


        @commands.command("create")
        def create():
            pass
        ''',
}


def _package(root: Path, files: dict[str, str], package: str = "pkg") -> Path:
    for name, text in files.items():
        path = root / package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Surface, Surface]:
    old = extract(_package(tmp_path_factory.mktemp("old"), OLD_PKG), "pkg", "2.0")
    new = extract(_package(tmp_path_factory.mktemp("new"), NEW_PKG), "pkg", "3.0")
    return old, new


def test_surface_reads_declarations_statically(surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    init = old.callable_params("pkg.models.Threshold")
    assert init is not None and init[0] == "pkg.models.base.Threshold" and init[2]
    declared = {p.name: p.deprecated for p in init[1]}
    assert declared["higher_is_better"] == "deprecated since 2.3.0: Use ``greater_is_better`` " \
                                           "instead."
    log = new.callable_params("pkg.flavor.log_model")
    assert log is not None and {p.name: p.deprecated for p in log[1]}["artifact_path"] == \
        "deprecated: Use `name` instead."
    wrapped = new.callable_params("pkg.evaluate")  # @functools.wraps: the wrapped signature
    assert wrapped is not None and [p.name for p in wrapped[1]][:2] == ["model", "data"]
    assert new.objects["pkg.models.base.old_helper"].deprecated == \
        "deprecated since 3.0.0; use pkg.models.evaluate"
    assert old.cli == {"pkg deployments start-server": "pkg.cli.start_server",
                       "pkg deployments create": "pkg.cli.create"}


def test_an_environment_without_the_package_is_one_error(tmp_path: Path) -> None:
    from harness.errors import EnvironmentBuildError

    (tmp_path / "env" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    with pytest.raises(EnvironmentBuildError, match="cannot read mlflow 2.9.2's API"):
        surface_for_env(tmp_path / "env", "d1", "2.9.2", tmp_path / "cache")
    with pytest.raises(EnvironmentBuildError, match="no site-packages"):
        surface_for_env(tmp_path / "nothing", "d2", "2.9.2", tmp_path / "cache")


def test_surface_is_cached_by_environment_digest(surfaces: tuple[Surface, Surface],
                                                 tmp_path: Path) -> None:
    old, _ = surfaces
    env = tmp_path / "env"
    site = env / "lib" / "python3.11" / "site-packages"
    _package(site, OLD_PKG)
    first = surface_for_env(env, "abc", "2.0", tmp_path / "cache", package="pkg")
    again = surface_for_env(env, "abc", "2.0", tmp_path / "cache", package="pkg")
    assert (first.cached, again.cached) == (False, True)
    assert again.surface.objects == first.surface.objects and again.surface.env_digest == "abc"
    assert [p.name for p in (tmp_path / "cache" / "api-surfaces").iterdir()][0].startswith("abc-")


def test_surface_round_trips_through_json(surfaces: tuple[Surface, Surface],
                                          tmp_path: Path) -> None:
    old, _ = surfaces
    old.save(tmp_path / "s.json")
    again = Surface.load(tmp_path / "s.json")
    assert again.objects == old.objects and again.cli == old.cli


def test_changes_of_one_api(surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    assert object_change("pkg.fastai.log_model", old, new).kind == REMOVED  # type: ignore[union-attr]
    assert object_change("pkg.fastai.log_model", old, new).api == "pkg.fastai"  # type: ignore[union-attr]
    moved = object_change("pkg.legacy.Mover", old, new)
    assert moved is not None and moved.kind == MOVED and "pkg.elsewhere.Mover" in moved.what
    assert object_change("pkg.nowhere", old, new) is None  # unknown to the old version too
    kinds = [(c.kind, c.parameter) for c in
             call_changes("pkg.evaluate", old, new, ["baseline_model", "targets"], 2)]
    assert kinds == [(PARAM_REMOVED, "baseline_model")]
    threshold = call_changes("pkg.models.Threshold", old, new, ["higher_is_better"], 0)
    assert [c.kind for c in threshold] == [PARAM_REMOVED]
    assert "Use `greater_is_better` instead" in threshold[0].what
    # artifact_path passed by position is the same deprecated parameter
    assert [c.kind for c in call_changes("pkg.flavor.log_model", old, new, [], 2)] == \
        [PARAM_DEPRECATED]
    assert call_changes("pkg.flavor.log_model", old, new, ["name"], 1) == []
    run = call_changes("pkg.tracking.Client.get_run", old, new, [], 1, bound=True)
    assert [(c.kind, c.parameter) for c in run] == [(PARAM_REQUIRED, "token")]


def test_a_required_parameter_given_by_position_is_given() -> None:
    from harness.scan.surface import ApiObject, Param

    old = Surface("pkg", "1", {"pkg": ApiObject("module"), "pkg.f": ApiObject(
        "function", params=(Param("args", "var-positional", False),))})
    new = Surface("pkg", "2", {"pkg": ApiObject("module"), "pkg.f": ApiObject(
        "function", params=(Param("uri", "positional-or-keyword", True),))})
    assert call_changes("pkg.f", old, new, [], 1) == []
    assert [c.kind for c in call_changes("pkg.f", old, new, [], 0)] == [PARAM_REQUIRED]


def test_diff_of_whole_surfaces(surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    changes = {(c.api, c.kind, c.parameter) for c in diff_surfaces(*surfaces)}
    assert ("pkg.fastai", REMOVED, None) in changes
    assert ("pkg.fastai.log_model", REMOVED, None) not in changes  # named once, at the module
    assert ("pkg.legacy", REMOVED, None) in changes  # its Mover moved: object_change says so
    assert ("pkg.models.base.evaluate", PARAM_REMOVED, "custom_metrics") in changes
    assert ("pkg deployments start-server", CLI_REMOVED, None) in changes


def test_uses_follow_aliases_instances_and_commands() -> None:
    source = textwrap.dedent('''
        import subprocess
        import pkg as p
        import pkg.fastai
        from pkg.models import Threshold as T
        from pkg.tracking import Client


        class Registry:
            def __init__(self, uri):
                self.client = Client(uri)

            def files(self, run_id):
                return self.client.list_artifacts(run_id)


        def run(model, data, client: Client):
            T(higher_is_better=True)
            pkg.fastai.log_model(model, "m")
            p.evaluate(model, data, baseline_model=None)
            client.get_run("x")
            subprocess.run(["pkg", "deployments", "start-server"])
    ''')
    uses = {(u.line, u.api, u.kind, u.keywords, u.positional, u.bound)
            for u in python_uses(source, "team.py", "pkg")}
    assert (14, "pkg.tracking.Client.list_artifacts", "call", (), 1, True) in uses
    assert (18, "pkg.models.Threshold", "call", ("higher_is_better",), 0, False) in uses
    assert (19, "pkg.fastai.log_model", "call", (), 2, False) in uses
    assert (20, "pkg.evaluate", "call", ("baseline_model",), 2, False) in uses
    assert (21, "pkg.tracking.Client.get_run", "call", (), 1, True) in uses
    assert (22, "pkg deployments start-server", "command", (), 0, False) in uses
    assert [u.api for u in text_uses("# mlflow server\nRUN mlflow deployments start-server -p 1",
                                     "Dockerfile")] == ["mlflow deployments start-server"]


def test_findings_name_each_break_once_with_its_catalog_entry(
        surfaces: tuple[Surface, Surface], tmp_path: Path) -> None:
    old, new = surfaces
    code = tmp_path / "team"
    code.mkdir()
    (code / "evaluator.py").write_text(textwrap.dedent('''
        import pkg
        import pkg.fastai
        from pkg.models import Threshold


        def check(model, data):
            pkg.fastai.log_model(model, "m")
            pkg.fastai.log_model(model, "n")
            pkg.flavor.log_model(model, artifact_path="model")
            pkg.flavor.log_model(model, name="model")
            return pkg.evaluate(model, data, targets="y", baseline_model="b"), Threshold(0.1)
    '''))
    (code / "start.sh").write_text("pkg deployments start-server --port 5000\n")
    catalog = tmp_path / "team-catalog.toml"
    catalog.write_text(textwrap.dedent('''
        [[api]]
        id = "team-fastai"
        api = "pkg.fastai"
        summary = "fastai is gone"
        source = "https://example.invalid/fastai"
    '''))
    findings = find(find_uses(code, "pkg"), old, new, load_api_catalog(catalog))
    lines = [(f.file, f.line, f.api, f.kind) for f in findings]
    assert lines == [
        ("evaluator.py", 3, "pkg.fastai", REMOVED),
        ("evaluator.py", 10, "pkg.flavor.log_model", PARAM_DEPRECATED),
        ("evaluator.py", 12, "pkg.evaluate", PARAM_REMOVED),
    ]
    assert findings[0].also_at == [8, 9] and findings[0].catalog == "team-fastai"
    assert findings[0].text().startswith("evaluator.py:3: pkg.fastai — module removed in 3.0 "
                                         "(also lines 8, 9) [team-fastai: https://example")


def test_keywords_forwarded_through_a_team_wrapper_reach_mlflow(
        surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    source = textwrap.dedent('''
        import pkg


        def check(model, data):
            def evaluate(uri, label=None, **extra):
                return pkg.evaluate(uri, data, **extra)

            evaluate(model, label="y", baseline_model="b")
            evaluate(model)
            return evaluate
    ''')
    uses = python_uses(source, "w.py", "pkg")
    forwarded = [u for u in uses if u.partial and u.keywords]
    assert [(u.line, u.api, u.keywords) for u in forwarded] == [
        (9, "pkg.evaluate", ("baseline_model",))]
    findings = find(uses, old, new)
    # the removed keyword, at the wrapper's call; no "required parameter" guess from a partial
    assert [(f.line, f.kind, f.parameter) for f in findings] == [(9, PARAM_REMOVED,
                                                                  "baseline_model")]


def test_keys_of_a_kwargs_dict_are_keywords_and_unknown_ones_make_a_call_partial(
        surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    source = textwrap.dedent('''
        import pkg


        def log(model, options, **rest):
            kwargs = {"conda_env": None}
            kwargs["artifact_path"] = "model"
            pkg.flavor.log_model(model, **kwargs)
            pkg.tracking.Client().get_run("r", **options)
    ''')
    uses = {u.api: u for u in python_uses(source, "k.py", "pkg")}
    logged = uses["pkg.flavor.log_model"]
    assert (logged.keywords, logged.partial) == (("artifact_path", "conda_env"), True)
    findings = find(uses.values(), old, new)
    # artifact_path through the dict; no "new required parameter token" guess for **options
    assert [(f.line, f.kind, f.parameter) for f in findings] == [
        (8, PARAM_DEPRECATED, "artifact_path")]


def test_a_team_function_returning_an_mlflow_instance_gives_instances() -> None:
    source = textwrap.dedent('''
        from pkg.tracking import Client


        def connect(uri):
            if not uri:
                return Client()
            return Client(uri)


        def files(uri, run_id):
            client = connect(uri)
            return client.list_artifacts(run_id)
    ''')
    uses = [(u.line, u.api, u.kind, u.bound) for u in python_uses(source, "c.py", "pkg")]
    assert (13, "pkg.tracking.Client.list_artifacts", "call", True) in uses
    assert not [u for u in uses if u[0] == 12]  # connect(uri) is the team's call, not MLflow's


def test_positional_argument_binding_elsewhere_is_named(surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    # old: get_run(self, run_id); new: get_run(self, run_id, include=None, *, token)
    changes = call_changes("pkg.tracking.Client.get_run", old, new, [], 3, bound=True)
    assert PARAM_POSITION in {c.kind for c in changes}


def test_scan_command_bad_input_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["scan", str(tmp_path)]) == 2  # --from/--to missing (or in a config file)
    assert capsys.readouterr().err.strip() == (
        "mlflow-upgrade-harness: error: scan needs --from SPEC (or mlflow = \"…\" in the "
        "config file's [tool.mlflow-upgrade-harness.from])")
    code = main(["scan", str(tmp_path / "missing"), "--from", "2.9.2", "--to", "3.4.0",
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "no such file or folder" in err and len(err.strip().splitlines()) == 1


ENVS = Path.home() / ".cache" / "mlflow-upgrade-harness" / "envs"


def _env(version: str) -> Path | None:
    import json

    for marker in sorted(ENVS.glob("*/harness-env.json")):
        if json.loads(marker.read_text()).get("mlflow_version") == version:
            return marker.parent
    return None


NEEDS_ENVS = pytest.mark.skipif(
    _env("2.9.2") is None or _env("3.4.0") is None,
    reason="no cached 2.9.2 and 3.4.0 environments (an integration run builds them)")


def real_surfaces() -> tuple[Surface, Surface]:
    """2.9.2's and 3.4.0's surfaces, from the cached environments (read, or from the cache)."""
    old_env, new_env = _env("2.9.2"), _env("3.4.0")
    assert old_env is not None and new_env is not None
    return (surface_for_env(old_env, old_env.name, "2.9.2", ENVS.parent).surface,
            surface_for_env(new_env, new_env.name, "3.4.0", ENVS.parent).surface)


@NEEDS_ENVS
def test_real_surfaces_name_the_prds_breaks(tmp_path: Path) -> None:
    old, new = real_surfaces()
    code = tmp_path / "team.py"
    code.write_text(textwrap.dedent('''
        import mlflow
        import mlflow.mleap
        from mlflow.models import MetricThreshold
        from mlflow import MlflowClient


        def go(model, data, base):
            MetricThreshold(threshold=0.1, higher_is_better=True)
            mlflow.evaluate(model, data, baseline_model=base, custom_metrics=[])
            mlflow.fastai.log_model(model, "m")
            mlflow.sklearn.log_model(model, artifact_path="model")
            return MlflowClient().list_artifacts("run")
    '''))
    (tmp_path / "serve.sh").write_text("mlflow deployments start-server --config-path c.yaml\n")
    found = {(f.line, f.api, f.parameter or f.kind, f.catalog)
             for f in find(find_uses(tmp_path), old, new, load_api_catalog())}
    assert found == {
        (1, "mlflow deployments start-server", CLI_REMOVED, "deployments-server-removed"),
        (3, "mlflow.mleap", REMOVED, "mleap-flavor-removed"),
        (9, "mlflow.models.MetricThreshold", "higher_is_better",
         "metricthreshold-higher-is-better-removed"),
        (10, "mlflow.evaluate", "baseline_model", "evaluate-baseline-model-removed"),
        (10, "mlflow.evaluate", "custom_metrics", "evaluate-custom-metrics-removed"),
        (11, "mlflow.fastai", REMOVED, "fastai-flavor-removed"),
        (12, "mlflow.sklearn.log_model", "artifact_path", "log-model-artifact-path-deprecated"),
        (13, "mlflow.MlflowClient.list_artifacts", "behaviour", "list-artifacts-no-model-files"),
    }


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "team-project"


@NEEDS_ENVS
def test_example_team_project_breaks_are_each_named_once_and_nothing_else() -> None:
    old, new = real_surfaces()
    found = [(f.file, f.line, f.api, f.parameter or f.kind)
             for f in find(find_uses(EXAMPLE), old, new, load_api_catalog())]
    source = {name: (EXAMPLE / "src" / "team_mlops" / name).read_text().splitlines()
              for name in ("deltaone.py", "registry.py", "predictions.py")}

    def line(file: str, text: str) -> int:
        (number,) = [i for i, row in enumerate(source[file], 1) if text in row]
        return number

    assert found == [
        ("src/team_mlops/deltaone.py", line("deltaone.py", "higher_is_better=True"),
         "mlflow.models.MetricThreshold", "higher_is_better"),
        ("src/team_mlops/deltaone.py", line("deltaone.py", "result = mlflow.evaluate("),
         "mlflow.evaluate", "baseline_model"),
        ("src/team_mlops/deltaone.py", line("deltaone.py", "result = mlflow.evaluate("),
         "mlflow.evaluate", "validation_thresholds"),
        ("src/team_mlops/predictions.py", line("predictions.py", "from mlflow.llm import"),
         "mlflow.llm", "removed"),
        ("src/team_mlops/registry.py", line("registry.py", "info = mlflow.sklearn.log_model("),
         "mlflow.sklearn.log_model", "artifact_path"),
        ("src/team_mlops/registry.py", line("registry.py", "self.client.list_artifacts(run_id)"),
         "mlflow.MlflowClient.list_artifacts", "behaviour"),
        ("src/team_mlops/registry.py", line("registry.py", "return run.info.run_uuid"),
         "mlflow.MlflowClient.get_run(…).info.run_uuid", "removed"),
        ("src/team_mlops/registry.py", line("registry.py", 'source.split("/")[-3]'),
         "mlflow.MlflowClient.get_model_version(…).source", "behaviour"),
    ]


def test_several_paths_are_named_from_their_common_folder(
        surfaces: tuple[Surface, Surface], tmp_path: Path) -> None:
    from harness.scan.command import scan_code

    old, new = surfaces
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "code.py").write_text("import pkg.fastai\n")
    report = scan_code([tmp_path / "one", tmp_path / "two"], old, new)
    assert [f.file for f in report.findings] == ["one/code.py", "two/code.py"]
    assert report.breaking == report.findings and "2 breaking" in report.headline()


@NEEDS_ENVS
def test_scan_command_writes_its_reports_and_exits_1_on_a_break(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import json

    code = main(["scan", str(EXAMPLE), "--from", "2.9.2", "--to", "3.4.0", "--out",
                 str(tmp_path / "out")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-1].startswith("scan 2.9.2 → 3.4.0: 5 breaking, 1 deprecated, 2 behaviour changed: "
                              "check")
    data = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert len(data["findings"]) == 8 and data["timings"]["surfaces"]["3.4.0"]["objects"] > 1000
    markdown = (tmp_path / "out" / "scan.md").read_text()
    assert "## `src/team_mlops/deltaone.py`" in markdown
    (tmp_path / "clean.py").write_text("import mlflow\nmlflow.set_tag('a', 'b')\n")
    assert main(["scan", str(tmp_path / "clean.py"), "--from", "2.9.2", "--to", "3.4.0"]) == 0
