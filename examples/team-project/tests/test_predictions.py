"""Unit tests: the answer log's rows, no server needed."""

import pytest
from team_mlops.predictions import rows


def test_one_row_per_answer() -> None:
    assert rows(["Where are the logs?"], ["In /var/log"]) == [
        {"question": "Where are the logs?"}]


def test_answers_must_match_questions() -> None:
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        rows(["a", "b"], ["c"])
