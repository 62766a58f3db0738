"""Semantic rules for agent manifests (those the JSON Schema cannot express)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Final

from mentatlab.model.manifest import AgentManifest, EnvVar, Pin, PinType
from mentatlab.validation.quantities import RESOURCES, resource_amount
from mentatlab.validation.reporter import Reporter

__all__ = ["check_manifest"]

_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MULTIMODAL: Final = frozenset({PinType.AUDIO, PinType.IMAGE, PinType.VIDEO})
# Interpreters whose first non-option argument is the program file in the Cog-Pak.
_INTERPRETERS: Final = frozenset({"python", "python3", "node", "bash", "sh", "ruby", "perl"})


def check_manifest(manifest: AgentManifest, report: Reporter, directory: Path | None) -> None:
    """Report every semantic problem of ``manifest``; ``directory`` is its Cog-Pak, if any."""
    _check_pins(manifest, report)
    _check_image(manifest, report)
    _check_env(manifest, report)
    _check_runnable(manifest, report, directory)
    _check_scaling(manifest, report)
    _check_resources(manifest, report)


def _check_pins(manifest: AgentManifest, report: Reporter) -> None:
    for side, pins in (("inputs", manifest.inputs), ("outputs", manifest.outputs)):
        first: dict[str, int] = {}
        for index, pin in enumerate(pins):
            path = f"$.{side}[{index}]"
            if pin.name in first:
                message = f"{side[:-1]} pin {pin.name!r} is already declared at $.{side}"
                report.add(f"{path}.name", "manifest.pin-unique", f"{message}[{first[pin.name]}]")
            first.setdefault(pin.name, index)
            if pin.type in _MULTIMODAL and not _mime_type(pin):
                message = f"{pin.type} pin {pin.name!r} needs metadata.mimeType, e.g. image/png"
                report.add(path, "manifest.pin-mime-type", message)


def _mime_type(pin: Pin) -> bool:
    value = (pin.metadata or {}).get("mimeType")
    return isinstance(value, str) and bool(value.strip())


def _check_image(manifest: AgentManifest, report: Reporter) -> None:
    image = manifest.image
    if image is None or "@" in image:  # a digest pins the exact image
        return
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        message = f"image {image!r} has no tag; add a version tag or a digest"
        report.add("$.image", "manifest.image-tag", message)
    elif tag == "latest":
        message = f"image {image!r} uses the 'latest' tag, which changes under the agent"
        report.add("$.image", "manifest.image-tag", message + "; use a version tag or a digest")


def _check_env(manifest: AgentManifest, report: Reporter) -> None:
    first: dict[str, int] = {}
    for index, entry in enumerate(manifest.env):
        path = f"$.env[{index}]"
        if isinstance(entry, EnvVar):
            name = entry.name
        else:
            name, sep, _ = entry.partition("=")
            if not sep:
                message = f"env entry {entry!r} is not of the form KEY=VALUE"
                report.add(path, "manifest.env-format", message)
                continue
        if not _ENV_NAME.fullmatch(name):
            message = f"{name!r} is not a valid environment variable name"
            report.add(path, "manifest.env-format", message + " (letters, digits, '_')")
        elif name in first:
            message = f"environment variable {name!r} is already set at $.env[{first[name]}]"
            report.add(path, "manifest.env-duplicate", message)
        first.setdefault(name, index)


def _check_runnable(manifest: AgentManifest, report: Reporter, directory: Path | None) -> None:
    if manifest.command is None:
        if manifest.image is None:
            message = "agent has neither 'command' (to run locally) nor 'image' (on Kubernetes)"
            report.add("$", "manifest.runnable", message)
        return
    if directory is None:
        return
    program, index = manifest.command[0], 0
    if PurePosixPath(program).name in _INTERPRETERS:
        arguments = manifest.command[1:]
        if not arguments or arguments[0].startswith("-"):
            return
        program, index = arguments[0], 1
    elif "/" not in program:  # found on PATH when the agent starts
        return
    if not PurePosixPath(program).is_absolute() and not _exists(directory / program):
        message = f"{program!r} does not exist in the Cog-Pak directory {directory}"
        report.add(f"$.command[{index}]", "manifest.command-exists", message)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system (from a request body): not there
        return False


def _check_scaling(manifest: AgentManifest, report: Reporter) -> None:
    scaling = manifest.scaling
    if scaling is None:
        return
    if not manifest.long_running:
        message = "scaling only applies to longRunning agents; this agent runs per attempt"
        report.add("$.scaling", "manifest.scaling-long-running", message)
    low, high = scaling.min_replicas, scaling.max_replicas
    if low is not None and high is not None and low > high:
        message = f"minReplicas ({low}) is greater than maxReplicas ({high})"
        report.add("$.scaling.minReplicas", "manifest.scaling-range", message)


def _check_resources(manifest: AgentManifest, report: Reporter) -> None:
    requests, limits = manifest.resources.requests, manifest.resources.limits
    if requests is None or limits is None:
        return
    for name in RESOURCES:
        requested, limit = getattr(requests, name), getattr(limits, name)
        if requested is None or limit is None:
            continue
        low, high = resource_amount(name, requested), resource_amount(name, limit)
        if low is not None and high is not None and low > high:
            message = f"requested {name} {requested} is more than its limit {limit}"
            report.add(f"$.resources.requests.{name}", "manifest.resources-range", message)
