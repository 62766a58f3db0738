"""The API load generator: a process of its own, so its work never slows the server's.

Open loop at a fixed rate: request *i* is sent at ``start + i / rate`` whether or not the
earlier ones have been answered, and its latency counts from that planned time, so a
server falling behind shows up in the figures instead of slowing the generator down.
Prints one JSON object: ``latencies_ms`` (in order) and ``errors`` (status or exception).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx

__all__ = ["main"]

TINY_FLOW: dict[str, Any] = {
    "apiVersion": "mentatlab.io/v1",
    "kind": "Flow",
    "meta": {"id": "bench.tiny", "name": "bench tiny", "version": "1.0.0"},
    "graph": {
        "nodes": [{"id": "hello", "type": "ui.prompt", "outputs": {"text": "hi"}}],
        "edges": [],
    },
}
"""What POST /runs submits: validated and recorded like any flow, no agent process to start."""


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.key}"}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, timeout=30, limits=limits
    ) as client:
        latencies: list[float | None] = []
        errors: list[str] = []

        async def one(index: int, planned: float) -> None:
            try:
                if args.kind == "get":
                    response = await client.get(f"/api/v1/runs/{args.run_id}")
                else:
                    response = await client.post("/api/v1/runs", json={"flow": TINY_FLOW})
                if response.is_success:
                    latencies[index] = (time.perf_counter() - planned) * 1000
                else:
                    errors.append(f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

        total = max(1, round(args.rate * args.seconds))
        tasks = []
        start = time.perf_counter()
        for index in range(total):
            planned = start + index / args.rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            latencies.append(None)
            tasks.append(asyncio.create_task(one(index, planned)))
        await asyncio.gather(*tasks)
        return {
            "latencies_ms": [value for value in latencies if value is not None],
            "errors": errors,
            "seconds": time.perf_counter() - start,
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--kind", choices=["get", "post"], required=True)
    parser.add_argument("--run-id", default="")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    json.dump(asyncio.run(_load(parser.parse_args())), sys.stdout)


if __name__ == "__main__":
    main()
