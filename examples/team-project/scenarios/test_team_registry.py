"""The team's registry wrapper on both versions (and in every client × server cell)."""

import pytest

pytestmark = pytest.mark.matrix


def test_register_find_and_check_files(side, mlflow_client, observe, run_prefix) -> None:
    result = mlflow_client.call("team_registry:register_and_find",
                                name=f"{run_prefix}-team-{side}")
    assert result["version"] == "1"
    assert result["found_by_uuid"]
    observe(result)
