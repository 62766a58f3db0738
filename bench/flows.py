"""The DAG shapes every engine runs, as one neutral description and as a MentatLab flow.

A :class:`Dag` lists node ids (each runs the trivial agent once) and dependency edges;
the Prefect side gets the same description as JSON, so both run exactly the same graph.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bench.common import AGENT_DIR

__all__ = ["AGENT_ID", "Dag", "chain", "fanout", "parallel"]

AGENT_ID = "mentatlab.bench.tick"


@dataclass(frozen=True)
class Dag:
    name: str
    nodes: list[str]
    edges: list[tuple[str, str]]
    """(upstream, downstream): the upstream's result is the downstream's ``text`` input."""
    params: dict[str, Any] = field(default_factory=dict)
    """Params every node gets."""

    def flow(self) -> dict[str, Any]:
        """The MentatLab flow document of this DAG."""
        nodes: list[dict[str, Any]] = [
            {"id": node, "type": AGENT_ID, **({"params": self.params} if self.params else {})}
            for node in self.nodes
        ]
        return {
            "apiVersion": "mentatlab.io/v1",
            "kind": "Flow",
            "meta": {"id": f"bench.{self.name}", "name": f"bench {self.name}", "version": "1.0.0"},
            "graph": {
                "nodes": nodes,
                "edges": [{"from": f"{a}.result", "to": f"{b}.text"} for a, b in self.edges],
            },
        }

    def neutral(self) -> dict[str, Any]:
        """What the Prefect runner needs: nodes, edges, params, the agent's argv."""
        return {
            "name": self.name,
            "nodes": self.nodes,
            "edges": self.edges,
            "params": self.params,
            "agent_dir": str(AGENT_DIR),
        }


def fanout(width: int) -> Dag:
    """source → ``width`` nodes → join."""
    workers = [f"w{i}" for i in range(width)]
    edges = [("source", w) for w in workers] + [(w, "join") for w in workers]
    return Dag(f"fanout{width}", ["source", *workers, "join"], edges)


def chain(length: int) -> Dag:
    nodes = [f"n{i}" for i in range(length)]
    return Dag(f"chain{length}", nodes, list(itertools.pairwise(nodes)))


def parallel(width: int, params: dict[str, Any]) -> Dag:
    """``width`` independent nodes, all ready at once."""
    return Dag(f"parallel{width}", [f"p{i}" for i in range(width)], [], params)
