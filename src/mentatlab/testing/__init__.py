"""Testing toolkit for Cog-Pak authors: run an agent as the engine would and assert on it.

With MentatLab installed, pytest loads :mod:`mentatlab.testing.plugin`, which provides the
``run_cogpak`` fixture. The same functions are importable for use outside pytest::

    from mentatlab.testing import run_cogpak
    result = run_cogpak("agents/echo", inputs={"text": "hi"})
    assert result.outputs == {"result": "hi"}

The ``run_flow`` fixture (and :func:`run_flow`) runs a whole flow through the local
engine and returns its run record and event log.

Names are imported lazily (PEP 562) because pytest imports this package for every session,
and the runner pulls in pydantic, ruamel.yaml and the engine's driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentatlab.testing.cogpak import load_manifest, run_cogpak, run_cogpak_async
    from mentatlab.testing.flows import FlowInvalidError, FlowResult, run_flow, run_flow_async
    from mentatlab.testing.pins import load_agent, pin_mismatches
    from mentatlab.testing.result import CogPakResult

__all__ = [
    "CogPakResult",
    "FlowInvalidError",
    "FlowResult",
    "load_agent",
    "load_manifest",
    "pin_mismatches",
    "run_cogpak",
    "run_cogpak_async",
    "run_flow",
    "run_flow_async",
]

_HOMES = {
    "CogPakResult": "mentatlab.testing.result",
    "load_agent": "mentatlab.testing.pins",
    "load_manifest": "mentatlab.testing.cogpak",
    "pin_mismatches": "mentatlab.testing.pins",
    "run_cogpak": "mentatlab.testing.cogpak",
    "run_cogpak_async": "mentatlab.testing.cogpak",
    "FlowInvalidError": "mentatlab.testing.flows",
    "FlowResult": "mentatlab.testing.flows",
    "run_flow": "mentatlab.testing.flows",
    "run_flow_async": "mentatlab.testing.flows",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
