"""Checking that the pins an SDK agent declares in code match its ``manifest.yaml``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mentatlab.model.manifest import Pin
from mentatlab.testing.cogpak import load_manifest

if TYPE_CHECKING:
    from mentatlab.sdk import Agent, InputPin, OutputPin

__all__ = ["load_agent", "pin_mismatches"]

# Pin types whose value shape the code's annotation can be compared with.
_COMPARABLE = frozenset({"string", "number", "boolean", "json"})


def load_agent(cogpak: str | Path, script: str | None = None) -> Agent:
    """Import the Cog-Pak's script (the ``.py`` file of its command) and return its Agent."""
    from mentatlab.sdk import Agent

    workdir = Path(cogpak).resolve()
    if script is None:
        command = load_manifest(workdir).command or ()
        script = next((arg for arg in command if arg.endswith(".py")), "main.py")
    path = workdir / script
    # A unique module name: every Cog-Pak has a main.py, and they must not shadow each other.
    name = f"_mentat_cogpak_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(workdir))  # so the script's sibling modules import
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(workdir))
    found = [value for value in vars(module).values() if isinstance(value, Agent)]
    if len(found) != 1:
        raise LookupError(f"{path} defines {len(found)} mentatlab.sdk.Agent objects, expected 1")
    return found[0]


def pin_mismatches(cogpak: str | Path) -> list[str]:
    """Differences between the manifest's pins and the pins its agent declares in code.

    Empty when they agree: same input names (a ``**kwargs`` handler may take more), no input
    required by the code that the manifest lets a flow leave out, compatible types, and (if the
    code declares outputs) the same outputs.
    """
    manifest = load_manifest(cogpak)
    code = load_agent(cogpak)
    problems: list[str] = []
    code_inputs = {pin.name: pin for pin in code.inputs}
    for pin in manifest.inputs:
        found = code_inputs.pop(pin.name, None)
        if found is None:
            if not code.accepts_extra_inputs:
                problems.append(f"input {pin.name!r} is in the manifest but not in the code")
            continue
        if found.required and not pin.is_required and "default" not in pin.model_fields_set:
            problems.append(
                f"input {pin.name!r} is optional in the manifest but required by the code"
            )
        problems += _type_problem("input", pin, found)
    problems += [f"input {name!r} is in the code but not in the manifest" for name in code_inputs]
    if code.outputs is not None:
        code_outputs = {pin.name: pin for pin in code.outputs}
        for pin in manifest.outputs:
            declared = code_outputs.pop(pin.name, None)
            if declared is None:
                problems.append(f"output {pin.name!r} is in the manifest but not in the code")
            else:
                problems += _type_problem("output", pin, declared)
        problems += [
            f"output {name!r} is in the code but not in the manifest" for name in code_outputs
        ]
    return problems


def _type_problem(kind: str, pin: Pin, code: InputPin | OutputPin) -> list[str]:
    declared, written = pin.type.value, code.pin_type
    if declared not in _COMPARABLE or written in ("json", declared):
        return []
    return [f"{kind} {pin.name!r} is {declared} in the manifest but {written} in the code"]
