"""The scan tells what exists (a module is a file, not a name: a lazy loader of a module that is
gone does not keep it), follows values from MLflow through each version's types to the
attributes the code reads, and points at code that parses values whose shape changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.scan.catalog import load_api_catalog
from harness.scan.changes import (
    BEHAVIOUR,
    DEPRECATED,
    MOVED,
    REMOVED,
    diff_surfaces,
    object_change,
)
from harness.scan.command import scan_code
from harness.scan.extract import extract
from harness.scan.findings import find
from harness.scan.surface import Surface
from harness.scan.uses import find_uses, python_uses
from tests.unit.test_scan import NEEDS_ENVS, _package, real_surfaces

COMMON = {
    "lazy.py": '''
        class LazyLoader:
            def __init__(self, local_name, parent_globals, name):
                pass
        ''',
    "entities/__init__.py": '''
        from mlf.entities.run import Run, RunInfo
        from mlf.entities.model_version import ModelVersion
        ''',
    "entities/_base.py": '''
        class _Entity:
            def to_dictionary(self):
                pass
        ''',
    "entities/model_version.py": '''
        from mlf.entities._base import _Entity


        class ModelVersion(_Entity):
            @property
            def source(self):
                """Where the model is."""

            @property
            def version(self) -> str:
                pass
        ''',
    "paged.py": '''
        from typing import Generic, TypeVar

        T = TypeVar("T")


        class PagedList(list, Generic[T]):
            @property
            def token(self):
                pass
        ''',
    "models.py": '''
        class ModelInfo:
            @property
            def model_uri(self):
                pass


        def log_model(model, name=None):
            """Log a model.

            :return: A :py:class:`ModelInfo <mlf.models.ModelInfo>` instance that contains the
                     metadata of the logged model.
            """
        ''',
    "tracking.py": '''
        from typing import Optional

        from mlf.entities import ModelVersion, Run
        from mlf.paged import PagedList


        def get_run(run_id: str) -> Run:
            pass


        def active_run() -> Optional[Run]:
            pass


        class Client:
            def get_run(self, run_id: str) -> Run:
                pass

            def get_model_version(self, name: str, version: str) -> ModelVersion:
                pass

            def search_model_versions(self, query: str) -> PagedList[ModelVersion]:
                pass


        class Anything:
            def __getattr__(self, name):
                pass

            @property
            def gone(self):
                pass


        def anything() -> Anything:
            pass
        ''',
}

OLD = {
    **COMMON,
    "__init__.py": '''
        from mlf.lazy import LazyLoader
        from mlf.tracking import Client, active_run, anything, get_run

        llm = LazyLoader("mlf.llm", globals(), "mlf.llm")
        ''',
    "llm/__init__.py": '''
        def log_predictions(inputs, outputs):
            pass
        ''',
    "recipes/__init__.py": '''
        class Recipe:
            pass
        ''',
    "entities/run.py": '''
        from mlf.entities._base import _Entity


        class RunInfo(_Entity):
            @property
            def run_uuid(self):
                """[Deprecated, use run_id instead] String containing run UUID."""

            @property
            def run_id(self) -> str:
                pass

            @property
            def status(self):
                pass


        class Run(_Entity):
            @property
            def info(self) -> RunInfo:
                pass
        ''',
}

NEW = {
    **COMMON,
    # The lazy loader stays; the module it loads is gone. A namesake module elsewhere is not
    # where it went.
    "__init__.py": '''
        from mlf.lazy import LazyLoader
        from mlf.tracking import Client, active_run, anything, get_run

        llm = LazyLoader("mlf.llm", globals(), "mlf.llm")
        tracking_lazy = LazyLoader("tracking_lazy", globals(), "mlf.tracking")
        ''',
    "types/llm.py": '''
        class ChatMessage:
            pass
        ''',
    "entities/run.py": '''
        from mlf.entities._base import _Entity


        class RunInfo(_Entity):
            @property
            def run_id(self) -> str:
                pass

            @property
            def status(self):
                """.. deprecated:: 3.1
                    Use state.
                """


        class Run(_Entity):
            @property
            def info(self) -> RunInfo:
                pass
        ''',
}


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Surface, Surface]:
    old = extract(_package(tmp_path_factory.mktemp("old"), OLD, "mlf"), "mlf", "2.0")
    new = extract(_package(tmp_path_factory.mktemp("new"), NEW, "mlf"), "mlf", "3.0")
    return old, new


def test_a_surface_holds_what_exists_and_the_types_things_give(
        surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    assert old.objects["mlf.llm"].kind == "module"
    # 3.0's `llm` is only a lazy loader: the module it would load has no file
    assert (new.objects["mlf.llm"].kind, new.objects["mlf.llm"].target) == ("attribute",
                                                                             "mlf.llm")
    assert not new.is_module("mlf.llm") and new.is_module("mlf.tracking_lazy")  # an alias
    assert new.resolve("mlf.get_run")[1].returns == "mlf.entities.Run"  # type: ignore[index]
    assert new.resolve("mlf.active_run")[1].returns == "mlf.entities.Run"  # type: ignore[index]
    assert new.resolve("mlf.tracking.Client.search_model_versions")[1].returns == (  # type: ignore[index]
        "mlf.paged.PagedList[mlf.entities.ModelVersion]")
    assert new.resolve("mlf.entities.Run.info")[1].returns == (  # type: ignore[index]
        "mlf.entities.run.RunInfo")
    # no annotation: the class the docstring's returns section names
    assert new.resolve("mlf.models.log_model")[1].returns == "mlf.models.ModelInfo"  # type: ignore[index]
    assert old.resolve("mlf.entities.RunInfo.run_uuid")[1].deprecated == (  # type: ignore[index]
        "deprecated: use run_id instead")
    # the private base inside the package is read, so RunInfo's members can be judged absent
    assert "mlf.entities._base._Entity.to_dictionary" in new.objects
    assert new.judgeable("mlf.entities.RunInfo.run_uuid")
    assert new.objects["mlf.tracking.Anything"].dynamic
    assert not new.judgeable("mlf.tracking.Anything.gone")  # __getattr__ answers any name


def test_a_module_that_is_gone_is_removed_whatever_still_bears_its_name(
        surfaces: tuple[Surface, Surface]) -> None:
    old, new = surfaces
    for path in ("mlf.llm", "mlf.llm.log_predictions"):
        change = object_change(path, old, new)
        assert change is not None and (change.api, change.kind) == ("mlf.llm", REMOVED)
        assert "only its name is left: a lazy loader at mlf/__init__.py:" in change.what
    recipes = object_change("mlf.recipes.Recipe", old, new)
    assert recipes is not None and (recipes.api, recipes.kind) == ("mlf.recipes", REMOVED)
    assert ("mlf.llm", REMOVED) in {(c.api, c.kind) for c in diff_surfaces(old, new)}
    assert MOVED not in {c.kind for c in diff_surfaces(old, new) if c.api == "mlf.llm"}


def test_every_spelling_of_a_removed_module_is_named(surfaces: tuple[Surface, Surface],
                                                    tmp_path: Path) -> None:
    old, new = surfaces
    for name, source in {
        "from_import.py": "from mlf.llm import log_predictions\n",
        "import_module.py": "import mlf.llm\n",
        "attribute.py": "import mlf\n\n\ndef log(a, b):\n"
                        "    return mlf.llm.log_predictions(a, b)\n",
    }.items():
        (tmp_path / name).write_text(source)
    found = [(f.file, f.line, f.api, f.kind) for f in find(find_uses(tmp_path, "mlf"), old, new)]
    assert found == [("attribute.py", 5, "mlf.llm", REMOVED),
                     ("from_import.py", 1, "mlf.llm", REMOVED),
                     ("import_module.py", 1, "mlf.llm", REMOVED)]


TEAM = '''
    import mlf
    from mlf import Client
    from mlf.entities import Run


    def fluent(run_id):
        return mlf.get_run(run_id).info.run_uuid


    def through_a_client(run_id):
        client = Client()
        run = client.get_run(run_id)
        return run.info.run_uuid


    def annotated(run: Run):
        return run.info.run_uuid, run.info.run_id


    def maybe():
        return mlf.active_run().info.run_uuid


    def helper(client: Client, run_id):
        return client.get_run(run_id)


    def through_a_helper(run_id):
        return helper(Client(), run_id).info.run_uuid


    def deprecated_now(run_id):
        with mlf.get_run(run_id) as run:
            return run.info.status


    def dynamic():
        return mlf.anything().gone


    def sources(client: Client, name):
        mv = client.get_model_version(name, "1")
        source = mv.source
        if source.startswith("models:/"):
            return source
        ids = [v.source.split("/")[2] for v in client.search_model_versions(name)]
        return mv.source, ids, mv.source == "x", mv.version.split(".")


    def uri(model):
        return mlf.models.log_model(model).model_uri.split("/")[1]
'''

CATALOG = '''
    [[api]]
    id = "source-shape"
    api = "mlf.entities.ModelVersion.source"
    value = true
    summary = "source is models:/m-<id> now"
    source = "https://example.invalid/source"

    [[api]]
    id = "uri-shape"
    api = "mlf.models.ModelInfo.model_uri"
    value = true
    landed_between = ["2.5", "3.0"]
    summary = "model_uri is models:/m-<id> now"
    source = "https://example.invalid/uri"
'''


def test_attributes_of_values_are_followed_through_the_types(
        surfaces: tuple[Surface, Surface], tmp_path: Path) -> None:
    old, new = surfaces
    source = textwrap.dedent(TEAM)
    (tmp_path / "catalog.toml").write_text(textwrap.dedent(CATALOG))
    entries = load_api_catalog(tmp_path / "catalog.toml")
    findings = find(python_uses(source, "team.py", "mlf"), old, new, entries)
    lines = source.splitlines()
    got = [(f.line, f.api, f.kind, f.catalog) for f in findings]
    assert [(line, api, kind) for line, api, kind, _ in got if kind != BEHAVIOUR] == [
        (8, "mlf.get_run(…).info.run_uuid", REMOVED),
        (14, "mlf.Client.get_run(…).info.run_uuid", REMOVED),
        (18, "mlf.entities.Run.info.run_uuid", REMOVED),  # run.info.run_id is there
        (22, "mlf.active_run(…).info.run_uuid", REMOVED),  # Optional[Run] is a Run
        (30, "mlf.Client.get_run(…).info.run_uuid", REMOVED),  # a helper's return
        (35, "mlf.get_run(…).info.status", DEPRECATED),
    ]  # and nothing at line 39: Anything answers any name
    removed = {f.line: f for f in findings if f.kind == REMOVED}
    assert removed[14].what == ("attribute RunInfo.run_uuid removed in 3.0; deprecated (2.0): "
                                "use run_id instead (read on what mlf.Client.get_run returned "
                                "at line 13)")
    assert lines[13 - 1].strip() == "run = client.get_run(run_id)"
    assert "read on a value annotated mlf.entities.Run" in removed[18].what
    checks = [(line, api, catalog) for line, api, kind, catalog in got if kind == BEHAVIOUR]
    assert checks == [
        (45, "mlf.Client.get_model_version(…).source", "source-shape"),  # source.startswith
        (47, "mlf.Client.search_model_versions(…)[…].source", "source-shape"),
        (48, "mlf.Client.get_model_version(…).source", "source-shape"),  # ==, not the return
        (52, "mlf.models.log_model(…).model_uri", "uri-shape"),  # typed by its docstring
    ]
    parsed = [f for f in findings if f.line == 47][0]
    assert parsed.what.startswith("behaviour changed in 3.0: check — this line parses "
                                  "(.split(…)[…]) the value: source is models:/m-<id> now")
    assert not parsed.breaking and parsed.check


def test_checks_are_pointers_apart_from_breaks(surfaces: tuple[Surface, Surface],
                                               tmp_path: Path) -> None:
    from harness.results.phase import Upgrade

    old, new = surfaces
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "team.py").write_text(textwrap.dedent(TEAM))
    (tmp_path / "catalog.toml").write_text(textwrap.dedent(CATALOG))
    report = scan_code([tmp_path / "code"], old, new, tmp_path / "catalog.toml")
    assert report.headline().startswith("scan 2.0 → 3.0: 5 breaking, 1 deprecated, "
                                        "4 behaviour changed: check (")
    blocking, caveats = report.blocking(Upgrade()), report.caveats(Upgrade())
    assert len(blocking) == 1 and blocking[0].startswith("5 place(s) in your code use APIs")
    assert caveats[1].startswith("4 place(s) in your code to check, where 3.0 changed "
                                 "behaviour: team.py:45 mlf.Client.get_model_version(…).source")
    markdown = report.markdown()
    assert markdown.index("## `team.py`") < markdown.index("## Behaviour changed: check") < \
        markdown.index("### `team.py`")


@NEEDS_ENVS
def test_real_surfaces_name_removed_modules_and_attributes(tmp_path: Path) -> None:
    old, new = real_surfaces()
    (tmp_path / "team.py").write_text(textwrap.dedent('''
        import mlflow
        import mlflow.recipes
        from mlflow import MlflowClient
        from mlflow.gluon import log_model
        from mlflow.llm import log_predictions


        def uuid(run_id):
            fluent = mlflow.get_run(run_id).info.run_uuid
            return fluent, MlflowClient().get_run(run_id).info.run_uuid


        def model_id(name):
            return MlflowClient().get_model_version(name, "1").source.split("/")[2]
    '''))
    found = {(f.line, f.api, f.kind) for f in
             find(find_uses(tmp_path), old, new, load_api_catalog())}
    assert found == {
        (3, "mlflow.recipes", REMOVED), (5, "mlflow.gluon", REMOVED), (6, "mlflow.llm", REMOVED),
        (10, "mlflow.get_run(…).info.run_uuid", REMOVED),
        (11, "mlflow.MlflowClient.get_run(…).info.run_uuid", REMOVED),
        (15, "mlflow.MlflowClient.get_model_version(…).source", BEHAVIOUR),
    }
