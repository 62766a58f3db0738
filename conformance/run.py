#!/usr/bin/env python3
"""Run the protocol v1 conformance vectors against an agent command.

    .venv/bin/python conformance/run.py --agent "node conformance/agents/node/agent.mjs"

Prints PASS/FAIL per vector (with a diff of the event stream on failure) and exits 1 if any
vector failed. The runner itself is ``mentatlab.testing.conformance``; see
conformance/README.md for the vectors and the reference agent's contract.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mentatlab.testing.conformance import main

if __name__ == "__main__":
    sys.exit(main(default_vectors=Path(__file__).resolve().parent / "vectors"))
