"""How fast the replay goes, and how much memory a large recording takes.

    python benchmarks/traffic_replay.py generate 10000 /tmp/traffic-10k.jsonl
    mlflow-upgrade-harness run --from 2.9.2 --to 3.4.0 --replay /tmp/traffic-10k.jsonl \
        -k test_tracking_roundtrip --no-bench --no-matrix --out /tmp/replay-10k
        (results.json: traffic.replay.seconds and rate_per_s)

    python benchmarks/traffic_replay.py generate 1000000 /tmp/traffic-1g.jsonl --pad 900
    python benchmarks/traffic_replay.py memory /tmp/traffic-1g.jsonl

`generate` writes a recording of N requests in a team's mix, as `record` writes them (the
recorded answers of creating routes carry recorded ids the replay maps): per run, a create,
params, metrics, a batch, tags, a get and a metric history; every 20 runs a search and an
experiment lookup; every 50 runs a registered model version. `--pad KB` adds a param of that
size to each batch, to reach a large file quickly. `memory` replays a recording through the
replay loop (reading, id mapping, comparison, timing) against in-process stand-in servers and
prints the peak RSS: the harness's side of a replay, without servers.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.results.phase import Upgrade
from harness.traffic.exchange import RotatingWriter, header
from harness.traffic.importers import read_traffic
from harness.traffic.replay import Replay
from harness.traffic.transport import Answer

JSON = "application/json"


def _line(seq: int, method: str, path: str, body: Any = None, answer: Any = None,
          query: str = "") -> dict[str, Any]:
    return {"seq": seq, "at": seq * 0.01, "method": method, "path": path, "query": query,
            "request": {"type": JSON, "json": body} if body is not None else {},
            "status": 200, "response": {"type": JSON, "json": answer if answer else {}},
            "ms": 5.0}


def _run(seq: int, experiment: str, index: int, pad: str) -> Iterator[dict[str, Any]]:
    api = "/api/2.0/mlflow"
    run_id = uuid.uuid4().hex
    yield _line(seq, "POST", f"{api}/runs/create",
                {"experiment_id": experiment, "start_time": 1_700_000_000_000 + index,
                 "run_name": f"run-{index}", "tags": [{"key": "team", "value": "ml"}]},
                {"run": {"info": {"run_id": run_id, "run_uuid": run_id}}})
    yield _line(seq + 1, "POST", f"{api}/runs/log-parameter",
                {"run_id": run_id, "key": "lr", "value": str(0.01 * (index % 7))})
    for step in range(3):
        yield _line(seq + 2 + step, "POST", f"{api}/runs/log-metric",
                    {"run_id": run_id, "key": "loss", "value": 1 / (step + 1),
                     "timestamp": 1000 + step, "step": step})
    batch = [{"key": "epochs", "value": "3"}] + ([{"key": "notes", "value": pad}] if pad else [])
    yield _line(seq + 5, "POST", f"{api}/runs/log-batch",
                {"run_id": run_id, "params": batch,
                 "metrics": [{"key": "acc", "value": 0.9, "timestamp": 2000, "step": 0}]})
    yield _line(seq + 6, "POST", f"{api}/runs/set-tag",
                {"run_id": run_id, "key": "stage", "value": "train"})
    yield _line(seq + 7, "GET", f"{api}/runs/get", query=f"run_id={run_id}")
    yield _line(seq + 8, "GET", f"{api}/metrics/get-history",
                query=f"run_id={run_id}&metric_key=loss&max_results=25000")
    yield _line(seq + 9, "POST", f"{api}/runs/update",
                {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000})


def generate(count: int, out: Path, pad_kb: int) -> int:
    api = "/api/2.0/mlflow"
    writer = RotatingWriter(out, header("generated", "now", []), 1 << 40, 1 << 40)
    pad = "x" * (pad_kb * 1024)
    seq, index, experiment = 1, 0, "900"
    writer.write(_line(seq, "POST", f"{api}/experiments/create", {"name": "bench"},
                       {"experiment_id": experiment}))
    writer.write(_line(seq + 1, "POST", f"{api}/registered-models/create", {"name": "bench"},
                       {"registered_model": {"name": "bench"}}))
    seq += 2
    while seq <= count:
        for line in _run(seq, experiment, index, pad):
            writer.write(line)
        seq, index = seq + 10, index + 1
        if index % 20 == 0:
            writer.write(_line(seq, "POST", f"{api}/runs/search",
                               {"experiment_ids": [experiment], "max_results": 20,
                                "order_by": ["attributes.start_time DESC"]}))
            writer.write(_line(seq + 1, "GET", f"{api}/experiments/get-by-name",
                               query="experiment_name=bench"))
            seq += 2
        if index % 50 == 0:
            writer.write(_line(seq, "POST", f"{api}/model-versions/create",
                               {"name": "bench", "source": "s3://bucket/model"},
                               {"model_version": {"name": "bench", "version": str(index)}}))
            seq += 1
    writer.close()
    return writer.count


class _Standin:
    """An in-process server: answers a run id for runs/create, the request's size otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, method: str, target: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:
        if "runs/create" in target:
            return Answer(200, 0.001, {"run": {"info": {"run_id": uuid.uuid4().hex}}}, True)
        return Answer(200, 0.001, {"target": target[:80], "size": len(body or b"")}, True)

    def close(self) -> None:
        pass


def memory(path: Path) -> dict[str, Any]:
    began = time.monotonic()
    replay = Replay({role: _Standin(role) for role in ("a", "b", "new")}, 0.2)
    counts = replay.run(read_traffic(path))
    replay.summary(Upgrade("2.9.2", "3.4.0"))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"file_mb": round(path.stat().st_size / (1 << 20)), "requests": counts.replayed,
            "seconds": round(time.monotonic() - began, 1), "peak_rss_mb": round(peak_kb / 1024),
            "ids_mapped": sum(ids.size for ids in replay.ids.values())}


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/traffic_replay.py")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate")
    gen.add_argument("count", type=int)
    gen.add_argument("out", type=Path)
    gen.add_argument("--pad", type=int, default=0, metavar="KB")
    mem = commands.add_parser("memory")
    mem.add_argument("recording", type=Path)
    args = parser.parse_args()
    if args.command == "generate":
        written = generate(args.count, args.out, args.pad)
        sys.stdout.write(f"{written} requests, {args.out.stat().st_size >> 20} MB: {args.out}\n")
    else:
        sys.stdout.write(json.dumps(memory(args.recording)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
