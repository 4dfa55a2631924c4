"""What the store holds, table by table, as SQL the database itself generates.

Each `Fill` is one `INSERT INTO table (columns) SELECT expressions FROM generate_series(…)`:
PostgreSQL makes the rows, so seeding runs at the database's speed, not the harness's. The
shape is a real store's: one experiment holds half the runs, every run has params, MLflow's
system tags and five metric histories; one run has a long history, one thousands of params;
some experiments and runs are deleted (5 % and 4 %), runs are in every status, registered
models have versions in every stage (soft-deleted ones as MLflow leaves them), tags and two
aliases; a quarter of the runs have a dataset input.

Every value is a function of the entity's index (no randomness), so a store is the same on
every machine and the harness can say exactly what it seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.scale.profile import StoreSize

PREFIX = "muh-store"
T0 = 1_700_000_000_000  # ms: the store's first timestamp
RUN = f"md5('{PREFIX}:run:' || r)"
DATASET = f"md5('{PREFIX}:dataset:' || %s)"
LONG_KEY = "train_loss"  # the long history's metric (run 1)
WIDE_RUN, LONG_RUN = 2, 1  # runs with thousands of params, and with the long history
METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
PARAM_KEYS = ("learning_rate", "optimizer", "batch_size", "epochs", "seed", "model_type",
              "dropout", "weight_decay", "max_depth", "n_estimators")
SYSTEM_TAGS = ("mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.source.type",
               "mlflow.source.git.commit", "team")


def _array(items: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{item}'" for item in items) + "]"


@dataclass(frozen=True)
class Fill:
    """One INSERT … SELECT: `columns` maps each column to its SQL expression over `source`."""

    table: str
    source: str
    columns: dict[str, str]


def experiment_of(base: int, size: StoreSize, run: str = "r") -> str:
    """Run `run`'s experiment: the big one (base + 1) for the first half, the others in turn."""
    return (f"(CASE WHEN {run} <= {size.big_experiment_runs} THEN {base + 1} "
            f"ELSE {base + 2} + mod({run} - {size.big_experiment_runs} - 1, "
            f"{size.experiments - 1}) END)")


def metric_value(key: str, step: str, steps: int) -> str:
    """Run r's metric `key` (an index into METRIC_KEYS) at `step`: accuracy ends between 0.5
    and 1 by run, loss falls; a NaN (stored as 0, is_nan) at the first val_loss of some runs."""
    quality = "(0.5 + 0.5 * mod(r * 7919, 1000) / 1000.0)"
    return (f"(CASE WHEN {is_nan(key, step)} THEN 0 ELSE CASE {key} "
            f"WHEN 0 THEN (1.5 - {quality}) / ({step} + 1) "
            f"WHEN 1 THEN {quality} * ({step} + 1) / {steps} "
            f"WHEN 2 THEN (1.6 - {quality}) / ({step} + 1) "
            f"WHEN 3 THEN {quality} * ({step} + 1) / {steps} - 0.01 "
            f"ELSE 0.001 * power(0.9, {step}) END END)")


def is_nan(key: str, step: str) -> str:
    return f"({key} = 2 AND {step} = 0 AND mod(r, 997) = 5)"


def _tracking(size: StoreSize, base: int) -> list[Fill]:
    exp, deleted = experiment_of(base, size), "mod(r, 25) = 3"
    status = ("(CASE WHEN r <= 2 THEN 'FINISHED' ELSE CASE mod(r, 20) WHEN 0 THEN 'FAILED' "
              "WHEN 1 THEN 'RUNNING' WHEN 2 THEN 'KILLED' ELSE 'FINISHED' END END)")
    return [
        Fill("experiments", f"FROM generate_series(1, {size.experiments}) AS e", {
            "experiment_id": f"{base} + e",
            "name": f"'{PREFIX}-' || lpad(e::text, 6, '0')",
            "artifact_location": f"'mlflow-artifacts:/' || ({base} + e)",
            "lifecycle_stage": "CASE WHEN e > 1 AND mod(e, 20) = 0 THEN 'deleted' "
                               "ELSE 'active' END",
            "creation_time": f"{T0} + e * 60000",
            "last_update_time": f"{T0} + e * 60000 + 3600000"}),
        Fill("experiment_tags", f"FROM generate_series(1, {size.experiments}) AS e, "
             "(VALUES ('team'), ('mlflow.note.content')) AS t(key)", {
                 "key": "t.key",
                 "value": "CASE t.key WHEN 'team' THEN 'team-' || mod(e, 7) "
                          "ELSE 'Experiment ' || e || ' of the store' END",
                 "experiment_id": f"{base} + e"}),
        Fill("runs", f"FROM generate_series(1, {size.runs}) AS r", {
            "run_uuid": RUN, "name": "'run-' || r", "source_type": "'LOCAL'",
            "source_name": "'train.py'", "entry_point_name": "''",
            "user_id": "'user-' || mod(r, 40)", "status": status,
            "start_time": f"{T0} + r * 1000",
            "end_time": f"CASE WHEN {status} = 'RUNNING' THEN NULL "
                        f"ELSE {T0} + r * 1000 + 600000 END",
            "source_version": "md5('commit' || mod(r, 500))",
            "lifecycle_stage": f"CASE WHEN {deleted} THEN 'deleted' ELSE 'active' END",
            "artifact_uri": f"'mlflow-artifacts:/' || {exp} || '/' || {RUN} || '/artifacts'",
            "experiment_id": exp,
            "deleted_time": f"CASE WHEN {deleted} THEN {T0} + r * 1000 + 700000 END"}),
    ]


def _run_data(size: StoreSize) -> list[Fill]:
    keys, tags = _array(PARAM_KEYS), _array(SYSTEM_TAGS)
    return [
        Fill("params", f"FROM generate_series(1, {size.runs}) AS r, "
             f"generate_series(0, {size.params - 1}) AS p", {
                 "key": f"coalesce(({keys})[p + 1], 'param_' || lpad(p::text, 3, '0'))",
                 "value": "CASE p WHEN 0 THEN (0.001 * (mod(r, 5) + 1))::text "
                          "WHEN 1 THEN (ARRAY['adam', 'sgd', 'rmsprop'])[mod(r, 3) + 1] "
                          "WHEN 2 THEN (32 * power(2, mod(r, 4)))::int::text "
                          "ELSE mod(r * (p + 7), 1000)::text END",
                 "run_uuid": RUN}),
        Fill("params", f"FROM generate_series(0, {size.wide - 1}) AS w, "
             f"(VALUES ({WIDE_RUN})) AS v(r)", {
                 "key": "'feature_' || lpad(w::text, 6, '0')",
                 "value": "mod(w * 31, 997)::text", "run_uuid": RUN}),
        Fill("tags", f"FROM generate_series(1, {size.runs}) AS r, "
             f"generate_series(0, {size.tags - 1}) AS t", {
                 "key": f"coalesce(({tags})[t + 1], 'tag_' || t)",
                 "value": "CASE t WHEN 0 THEN 'run-' || r WHEN 1 THEN 'user-' || mod(r, 40) "
                          "WHEN 2 THEN 'train.py' WHEN 3 THEN 'LOCAL' "
                          "WHEN 4 THEN md5('commit' || mod(r, 500)) || '01234567' "
                          "WHEN 5 THEN 'team-' || mod(r, 7) "
                          "ELSE 'value-' || mod(r * (t + 3), 100) END",
                 "run_uuid": RUN}),
    ]


def _metrics(size: StoreSize) -> list[Fill]:
    steps, keys = size.steps_per_key, _array(METRIC_KEYS)
    last = str(steps - 1)
    history = {"key": f"'{LONG_KEY}'", "value": "2.0 / (1 + s * 0.001)",
               "timestamp": f"{T0} + 1000 + s * 10", "step": "s", "is_nan": "false",
               "run_uuid": RUN}
    long_run = f"(VALUES ({LONG_RUN})) AS v(r)"
    return [
        Fill("metrics", f"FROM generate_series(1, {size.runs}) AS r, "
             f"generate_series(0, {size.metric_keys - 1}) AS k, "
             f"generate_series(0, {steps - 1}) AS s", {
                 "key": f"({keys})[k + 1]", "value": metric_value("k", "s", steps),
                 "timestamp": f"{T0} + r * 1000 + s * 100", "step": "s",
                 "is_nan": is_nan("k", "s"), "run_uuid": RUN}),
        Fill("metrics", f"FROM generate_series(0, {size.history - 1}) AS s, {long_run}",
             history),
        Fill("latest_metrics", f"FROM generate_series(1, {size.runs}) AS r, "
             f"generate_series(0, {size.metric_keys - 1}) AS k", {
                 "key": f"({keys})[k + 1]", "value": metric_value("k", last, steps),
                 "timestamp": f"{T0} + r * 1000 + {last} * 100", "step": last,
                 "is_nan": is_nan("k", last), "run_uuid": RUN}),
        Fill("latest_metrics", f"FROM (VALUES ({size.history - 1})) AS l(s), {long_run}",
             history),
    ]


def _inputs(size: StoreSize, base: int) -> list[Fill]:
    with_input = f"FROM generate_series(4, {size.runs}, 4) AS r"
    return [
        Fill("datasets", f"FROM generate_series(1, {size.experiments}) AS e", {
            "dataset_uuid": DATASET % "e", "experiment_id": f"{base} + e",
            "name": "'training-' || e", "digest": "left(md5('digest' || e), 8)",
            "dataset_source_type": "'local'",
            "dataset_source": "'{\"uri\": \"/data/training-' || e || '.parquet\"}'",
            "dataset_schema": "'{\"mlflow_colspec\": [{\"type\": \"double\", \"name\": \"x\"}]}'",
            "dataset_profile": "'{\"num_rows\": ' || (1000 + e) || '}'"}),
        Fill("inputs", with_input, {
            "input_uuid": f"md5('{PREFIX}:input:' || r)", "source_type": "'DATASET'",
            "source_id": DATASET % f"({experiment_of(base, size)} - {base})",
            "destination_type": "'RUN'", "destination_id": RUN}),
        Fill("input_tags", with_input, {
            "input_uuid": f"md5('{PREFIX}:input:' || r)", "name": "'mlflow.data.context'",
            "value": "'training'"}),
    ]


def model_name(index: str) -> str:
    return f"'{PREFIX}-model-' || lpad({index}::text, 5, '0')"


def _registry(size: StoreSize, base: int) -> list[Fill]:
    per = size.versions // size.models
    name, versions = model_name("m"), (f"FROM generate_series(1, {size.models}) AS m, "
                                       f"generate_series(1, {per}) AS v")
    deleted = "mod(v, 7) = 3 AND v < " + str(per - 1)
    source_run = f"(1 + mod((m - 1) * {per} + v, {size.runs}))"
    source = (f"'mlflow-artifacts:/' || {experiment_of(base, size, source_run)}"
              f" || '/' || md5('{PREFIX}:run:' || {source_run}) || '/artifacts/model'")

    def redacted(text: str, value: str) -> str:  # a soft-deleted version, as MLflow leaves it
        return f"CASE WHEN {deleted} THEN {text} ELSE {value} END"

    tagged = (f"{versions}, (VALUES ('validation_status'), ('dataset_version')) AS t(key) "
              f"WHERE NOT ({deleted})")
    return [
        Fill("registered_models", f"FROM generate_series(1, {size.models}) AS m", {
            "name": name, "creation_time": f"{T0} + m * 1000",
            "last_updated_time": f"{T0} + m * 1000 + 5000",
            "description": "'model ' || m"}),
        Fill("registered_model_tags", f"FROM generate_series(1, {size.models}) AS m, "
             "(VALUES ('owner'), ('task')) AS t(key)", {
                 "key": "t.key", "name": name,
                 "value": "CASE t.key WHEN 'owner' THEN 'team-' || mod(m, 7) "
                          "ELSE 'classification' END"}),
        Fill("model_versions", versions, {
            "name": name, "version": "v", "creation_time": f"{T0} + m * 1000 + v * 100",
            "last_updated_time": f"{T0} + m * 1000 + v * 100 + 50",
            "description": redacted("NULL", "'version ' || v"),
            "user_id": redacted("NULL", "'user-' || mod(m, 40)"),
            "current_stage": f"CASE WHEN v = {per} THEN 'Production' "
                             f"WHEN v = {per} - 1 THEN 'Staging' "
                             f"WHEN {deleted} THEN 'Deleted_Internal' "
                             "WHEN mod(v, 3) = 0 THEN 'Archived' ELSE 'None' END",
            "source": redacted("'REDACTED-SOURCE-PATH'", source),
            "run_id": redacted("'REDACTED-RUN-ID'", f"md5('{PREFIX}:run:' || {source_run})"),
            "status": "'READY'", "run_link": redacted("'REDACTED-RUN-LINK'", "NULL"),
            "storage_location": redacted("NULL", source)}),
        Fill("model_version_tags", tagged, {
            "key": "t.key", "name": name, "version": "v",
            "value": "CASE t.key WHEN 'validation_status' THEN 'passed' "
                     "ELSE 'v' || mod(v, 10) END"}),
        Fill("registered_model_aliases", f"FROM generate_series(1, {size.models}) AS m, "
             "(VALUES ('champion', 0), ('challenger', 1)) AS a(alias, back) "
             f"WHERE {per} - a.back >= 1", {
                 "alias": "a.alias", "version": f"{per} - a.back", "name": name}),
    ]


def fills(size: StoreSize, base: int) -> list[Fill]:
    """Every INSERT of the store, in an order that satisfies its foreign keys; `base` is the
    largest experiment id already there (0: the default experiment)."""
    return [*_tracking(size, base), *_run_data(size), *_metrics(size), *_inputs(size, base),
            *_registry(size, base)]
