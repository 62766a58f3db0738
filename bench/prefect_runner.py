"""Runs a benchmark DAG on Prefect 3; executed by the Python of the Prefect virtualenv.

It imports nothing of MentatLab (the Prefect environment does not have it): each task runs
the benchmark agent as a subprocess with the MentatLab interpreter given by ``--python``,
exactly as the local engine does, and passes the upstream results on as the agent's
``text`` input. Prints one JSON object: the Prefect version, the warm-up time (starting
Prefect's temporary local server, once for all the DAGs), and per DAG its wall time and
every node's agent stamps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import __version__, flow, task  # type: ignore[import-not-found]
from prefect.task_runners import ThreadPoolTaskRunner  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--dag", action="append", required=True, help="a DAG as JSON (bench.flows.Dag.neutral)"
    )
    parser.add_argument("--python", required=True, help="the interpreter that runs the agent")
    parser.add_argument("--parallelism", type=int, required=True)
    args = parser.parse_args()
    dags: list[dict[str, Any]] = [
        json.loads(Path(path).read_text(encoding="utf-8")) for path in args.dag
    ]

    @task  # type: ignore[untyped-decorator]
    def tick(node: str, inputs: list[Any], params: dict[str, Any], cwd: str) -> dict[str, float]:
        envelope = {
            "protocol": "mentatlab.agent/v1",
            "run": {"id": "prefect", "node": node, "attempt": 1},
            "inputs": {"text": inputs[0] if len(inputs) == 1 else inputs} if inputs else {},
            "params": params,
        }
        done = subprocess.run(
            [args.python, "main.py"],
            input=json.dumps(envelope).encode() + b"\n",
            cwd=cwd,
            capture_output=True,
            check=True,
        )
        for line in done.stdout.decode().splitlines():
            event = json.loads(line)
            if event.get("type") == "output":
                return dict(event["value"])
        raise RuntimeError(f"{node}: the agent wrote no result")

    # The same bound on agent processes at once as the MentatLab run it is compared with.
    runner = ThreadPoolTaskRunner(max_workers=args.parallelism)

    @flow(task_runner=runner)  # type: ignore[untyped-decorator]
    def run_dag(dag: dict[str, Any], nodes: list[str]) -> dict[str, dict[str, float]]:
        upstream: dict[str, list[str]] = {node: [] for node in nodes}
        for source, target in dag["edges"]:
            if target in upstream:
                upstream[target].append(source)
        futures: dict[str, Any] = {}
        for node in nodes:  # nodes are listed in dependency order
            inputs = [futures[u] for u in upstream[node]]
            futures[node] = tick.submit(node, inputs, dag["params"], dag["agent_dir"])
        return {node: future.result() for node, future in futures.items()}

    start = time.perf_counter()
    # Starts Prefect's temporary server: not part of any DAG's time.
    run_dag(dags[0], [dags[0]["nodes"][0]])
    warmup = time.perf_counter() - start
    runs = {}
    for dag in dags:
        start = time.perf_counter()
        stamps = run_dag(dag, dag["nodes"])
        runs[dag["name"]] = {"seconds": time.perf_counter() - start, "stamps": stamps}
    json.dump({"version": __version__, "warmup_seconds": warmup, "runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
