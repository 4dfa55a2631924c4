import pytest

from harness.config import Provider
from harness.errors import ProviderUnavailable
from harness.providers import resolve_provider


def test_auto_picks_docker_only_when_an_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("testcontainers")
    assert resolve_provider(Provider.AUTO, lambda: True) is Provider.DOCKER
    assert resolve_provider(Provider.AUTO, lambda: False) is Provider.LOCAL


def test_auto_is_local_without_testcontainers(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_testcontainers(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "testcontainers":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_testcontainers)
    assert resolve_provider(Provider.AUTO, lambda: True) is Provider.LOCAL


def test_docker_without_engine_is_a_clear_error() -> None:
    with pytest.raises(ProviderUnavailable, match="no Docker engine"):
        resolve_provider(Provider.DOCKER, lambda: False)


@pytest.mark.parametrize("provider", [Provider.LOCAL, Provider.EXTERNAL])
def test_explicit_providers_are_kept(provider: Provider) -> None:
    def engine() -> bool:
        raise AssertionError("must not probe docker")

    assert resolve_provider(provider, engine) is provider
