"""Running a Cog-Pak directory locally, as the engine would run one node attempt."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mentatlab.engine.drivers.base import AttemptSpec, Driver
from mentatlab.engine.limits import execution_limits
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.protocol import AgentEvent
from mentatlab.testing.result import CogPakResult

__all__ = ["load_manifest", "run_cogpak", "run_cogpak_async"]


def load_manifest(cogpak: str | Path) -> AgentManifest:
    """Load and validate the manifest of the Cog-Pak directory ``cogpak`` (v1 or legacy).

    Raises :class:`ValueError` listing the errors when it is invalid.
    """
    from mentatlab.validation import Severity
    from mentatlab.validation import load_manifest as validate_manifest

    manifest, findings = validate_manifest(Path(cogpak))
    if manifest is None:
        errors = [str(f) for f in findings if f.severity is Severity.ERROR]
        raise ValueError("invalid Cog-Pak manifest:\n" + "\n".join(errors))
    return manifest


def run_cogpak(
    cogpak: str | Path,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    resume: Any = None,
    attempt: int = 1,
    timeout: float | None = None,
    cancel_after: float | None = None,
    env: Mapping[str, str] | None = None,
    driver: Driver | None = None,
) -> CogPakResult:
    """Run one attempt of the Cog-Pak in directory ``cogpak`` and collect what it emits.

    ``inputs`` must name input pins of the manifest; pins left out get their manifest
    ``default``, if any. ``timeout`` overrides ``resources.timeoutSeconds``; ``cancel_after``
    stops the agent after so many seconds, as cancelling a run does. The agent runs through
    ``driver`` (the local process driver unless given).
    """
    return asyncio.run(
        run_cogpak_async(
            cogpak,
            inputs,
            params,
            resume=resume,
            attempt=attempt,
            timeout=timeout,
            cancel_after=cancel_after,
            env=env,
            driver=driver,
        )
    )


async def run_cogpak_async(
    cogpak: str | Path,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    resume: Any = None,
    attempt: int = 1,
    timeout: float | None = None,
    cancel_after: float | None = None,
    env: Mapping[str, str] | None = None,
    driver: Driver | None = None,
) -> CogPakResult:
    """:func:`run_cogpak` for tests that already run an event loop."""
    workdir = Path(cogpak).resolve()
    manifest = load_manifest(workdir)
    spec = AttemptSpec(
        run_id=f"test-{uuid.uuid4().hex[:12]}",
        node_id=manifest.id.rsplit(".", 1)[-1],
        attempt=attempt,
        agent_id=manifest.id,
        agent_version=manifest.version,
        command=_command(manifest),
        workdir=workdir,
        image=manifest.image,
        inputs=_with_defaults(manifest, inputs or {}),
        params=dict(params or {}),
        resume=resume,
        env=dict(env or {}),
        limits=execution_limits(manifest, timeout_seconds=timeout),
        protocol=manifest.protocol,
        output_pins=tuple(pin.name for pin in manifest.outputs),
    )
    if driver is None:
        from mentatlab.engine.drivers.local import LocalProcessDriver

        driver = LocalProcessDriver()
    events: list[AgentEvent] = []

    async def collect(event: AgentEvent) -> None:
        events.append(event)

    cancel = asyncio.Event()
    timer = None
    if cancel_after is not None:
        timer = asyncio.get_running_loop().call_later(cancel_after, cancel.set)
    try:
        outcome = await driver.run_attempt(spec, on_event=collect, cancel=cancel)
    finally:
        if timer is not None:
            timer.cancel()
    return CogPakResult(attempt=outcome, events=tuple(events))


def _command(manifest: AgentManifest) -> tuple[str, ...]:
    if not manifest.command:
        raise ValueError(f"{manifest.id}: the manifest has no 'command', so it cannot run locally")
    return manifest.command


def _with_defaults(manifest: AgentManifest, inputs: Mapping[str, Any]) -> dict[str, Any]:
    declared = {pin.name for pin in manifest.inputs}
    unknown = sorted(set(inputs) - declared)
    if unknown:
        # Most likely a typo in the test: the engine would refuse such a flow.
        raise ValueError(
            f"{manifest.id} has no input pin(s) {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(declared)) or 'none'}"
        )
    values = dict(inputs)
    for pin in manifest.inputs:
        if pin.name not in values and "default" in pin.model_fields_set:
            values[pin.name] = pin.default
    return values
