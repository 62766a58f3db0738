"""``mentatctl run``: run a flow locally, showing it live, recording it in the run store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import (
    EXIT_FAILED,
    OutputFormat,
    console,
    fail,
    print_json,
    store_session,
)
from mentatlab.cli.inputs import parse_input_options, print_findings, read_input_file
from mentatlab.cli.view import RunView, render_outputs
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.run import RunRecord, RunStatus
from mentatlab.service.execution import execute_run
from mentatlab.service.preparation import PreparedRun, prepare_flow
from mentatlab.store import SqlRunStore
from mentatlab.validation import Mode, UsageError

__all__ = ["run"]


def run(
    flow: Annotated[Path, typer.Argument(help="flow file (.yaml, .yml, .json, .mlab)")],
    input_values: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="NODE.PIN=VALUE (repeatable); JSON unless the pin is a string"
        ),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="YAML/JSON mapping of NODE.PIN to values")
    ] = None,
    agents: Annotated[
        list[Path] | None, typer.Option("--agents", help="directory of Cog-Paks (repeatable)")
    ] = None,
    max_parallel: Annotated[
        int | None,
        typer.Option("--max-parallel", min=1, help="agent processes at once (default: CPUs)"),
    ] = None,
    mode: Annotated[Mode, typer.Option(help="validation mode before running")] = Mode.STRICT,
    output: Annotated[
        OutputFormat, typer.Option(help="text (live) or json (final record)")
    ] = OutputFormat.TEXT,
) -> None:
    """Run FLOW locally. Exit 0 if the run succeeded, 1 otherwise."""
    typed_inputs = read_input_file(input_file) if input_file else {}
    text_inputs = parse_input_options(input_values or [])
    try:
        prepared, findings = prepare_flow(
            flow, agent_dirs=agents or [], inputs=typed_inputs, text_inputs=text_inputs, mode=mode
        )
    except UsageError as exc:
        fail(str(exc))
    print_findings(findings)
    if prepared is None:
        fail(f"{flow}: not run, the flow is invalid", EXIT_FAILED)
    with store_session() as store:
        record = _execute(store, prepared, max_parallel=max_parallel, output=output)
    if output is OutputFormat.JSON:
        print_json(record.model_dump(mode="json"))
    else:
        render_outputs(console, record)
    if record.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


def _execute(
    store: SqlRunStore, prepared: PreparedRun, *, max_parallel: int | None, output: OutputFormat
) -> RunRecord:
    view = RunView(
        console, list(prepared.plan.nodes), live=output is OutputFormat.TEXT and console.is_terminal
    )
    quiet = output is OutputFormat.JSON

    async def main() -> RunRecord:
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, cancel.set)
        return await execute_run(
            store,
            prepared.plan,
            document=prepared.document,
            inputs=prepared.inputs,
            driver=LocalProcessDriver(),
            max_parallel=max_parallel,
            cancel=cancel,
            observer=None if quiet else view.on_event,
            on_created=None if quiet else lambda run_id: console.print(f"run {run_id} started"),
        )

    with contextlib.nullcontext() if quiet else view:
        return asyncio.run(main())
