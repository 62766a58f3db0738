"""MentatLab Python agent SDK: write a Cog-Pak's handler as a typed function.

.. code-block:: python

    from mentatlab.sdk import Context, agent

    @agent
    def main(ctx: Context, text: str = "") -> dict[str, object]:
        ctx.progress(50, "halfway")
        return {"result": text.upper()}

    if __name__ == "__main__":
        main.run()

The SDK implements agent protocol v1 (``docs/protocol.md``) and imports only the standard
library and the protocol from :mod:`mentatlab.model`: :mod:`mentatlab.model.protocol_base` on
import, and the pydantic models of :mod:`mentatlab.model.protocol` only when an agent runs, to
validate its input envelope. Its public API (the names below) follows semantic versioning: it
changes incompatibly only with a new major version. See ``docs/sdk-python.md``.
"""

from mentatlab.sdk.agent import Agent, agent
from mentatlab.sdk.context import Context
from mentatlab.sdk.errors import AgentError, Cancelled, FatalError
from mentatlab.sdk.pins import InputPin, OutputPin

__all__ = [
    "Agent",
    "AgentError",
    "Cancelled",
    "Context",
    "FatalError",
    "InputPin",
    "OutputPin",
    "agent",
]
