"""The pins of each flow node: from its agent's manifest, or fixed for built-in nodes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from mentatlab.model.flow import Node
from mentatlab.model.manifest import PinType
from mentatlab.validation.catalog import ResolvedAgent

__all__ = [
    "BUILTIN_INPUT",
    "BUILTIN_OUTPUT",
    "InputPin",
    "NodePins",
    "node_pins",
    "pins_compatible",
]

# conditional and for_each take their input on, and emit on, a single json pin of this name.
BUILTIN_INPUT: Final = "input"
BUILTIN_OUTPUT: Final = "output"
_MULTIMODAL: Final = frozenset({PinType.AUDIO, PinType.IMAGE, PinType.VIDEO})


@dataclass(frozen=True, slots=True)
class InputPin:
    type: PinType
    required: bool


@dataclass(frozen=True, slots=True)
class NodePins:
    inputs: Mapping[str, InputPin] = field(default_factory=dict)
    outputs: Mapping[str, PinType] = field(default_factory=dict)
    # ui.console takes any input pin name, typed json.
    any_input: bool = False
    # Constant outputs the agent does not declare (typed json).
    undeclared_outputs: tuple[str, ...] = ()

    def input(self, name: str) -> InputPin | None:
        if self.any_input:
            return InputPin(PinType.JSON, required=False)
        return self.inputs.get(name)


def node_pins(node: Node, agent: ResolvedAgent | None, run_outputs: Collection[str]) -> NodePins:
    """Pins of ``node``; ``agent`` is its resolved agent (``None`` for built-ins).

    ``run_outputs`` are pin names given for this node as run inputs: for ``ui.prompt`` they are
    outputs like its constant ones.
    """
    if node.type == "ui.prompt":
        names = [*(node.outputs or {}), *run_outputs]
        return NodePins(outputs=dict.fromkeys(names, PinType.JSON))
    if node.type == "ui.console":
        return NodePins(any_input=True)
    if node.type in ("conditional", "for_each"):
        return NodePins(
            inputs={BUILTIN_INPUT: InputPin(PinType.JSON, required=False)},
            outputs={BUILTIN_OUTPUT: PinType.JSON},
        )
    if agent is None:
        raise ValueError(f"node {node.id!r} is an agent node: pass its resolved agent")
    manifest = agent.manifest
    outputs = {pin.name: pin.type for pin in manifest.outputs}
    undeclared = tuple(name for name in node.outputs or {} if name not in outputs)
    outputs.update(dict.fromkeys(undeclared, PinType.JSON))
    return NodePins(
        inputs={pin.name: InputPin(pin.type, pin.is_required) for pin in manifest.inputs},
        outputs=outputs,
        undeclared_outputs=undeclared,
    )


def pins_compatible(source: PinType, target: PinType) -> bool:
    """Equal types connect; json connects to anything; binary inputs take audio/image/video."""
    if source is target or PinType.JSON in (source, target):
        return True
    return target is PinType.BINARY and source in _MULTIMODAL
