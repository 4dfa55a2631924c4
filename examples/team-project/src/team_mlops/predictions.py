"""The support assistant's answers, logged with the evaluation run that produced them (MLflow's
LLM prediction log: a CSV of inputs, outputs and prompts on the active run)."""

from __future__ import annotations

from mlflow.llm import log_predictions

PROMPT = "Answer from the team's runbook: {question}"


def rows(questions: list[str], answers: list[str]) -> list[dict[str, str]]:
    """The questions as MLflow's inputs, one per answer."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    return [{"question": question} for question in questions]


def log_answers(questions: list[str], answers: list[str]) -> None:
    """Log the answers with the active run (one is started if none is)."""
    log_predictions(rows(questions, answers), answers, [PROMPT] * len(answers))
