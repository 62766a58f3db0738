"""``mentatctl run``: run a flow locally, showing it live, recording it in the run store;
or, with ``--server``, submit it to a server and show it live from the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from mentatlab.cli.common import (
    EXIT_FAILED,
    DbOption,
    OutputFormat,
    console,
    fail,
    print_json,
    store_session,
)
from mentatlab.cli.inputs import parse_input_options, print_findings, read_input_file
from mentatlab.cli.policy_cmd import PolicyOption, cli_policy
from mentatlab.cli.remote import ApiKeyOption, ServerOption, follow_run, remote_session
from mentatlab.cli.secret_sources import SecretsFileOption, secret_source
from mentatlab.cli.view import RunView, render_outputs
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.run import RunRecord, RunStatus
from mentatlab.service.execution import AgentAccess, execute_run
from mentatlab.service.preparation import PreparedRun, parse_input_text, prepare_flow
from mentatlab.store import SqlRunStore
from mentatlab.validation import Mode, UsageError, is_policy_rule
from mentatlab.validation.loading import read_document

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
        typer.Option(
            "--max-parallel",
            min=1,
            help="agent processes at once (default: the flow's runConfig.maxParallel, else CPUs)",
        ),
    ] = None,
    mode: Annotated[Mode, typer.Option(help="validation mode before running")] = Mode.STRICT,
    output: Annotated[
        OutputFormat, typer.Option(help="text (live) or json (final record)")
    ] = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
    policy: PolicyOption = None,
    secrets_file: SecretsFileOption = None,
) -> None:
    """Run FLOW locally, or on --server. Exit 0 if the run succeeded, 1 otherwise.

    A local run enforces the security policy (--policy; a server enforces its own) before
    any agent starts."""
    typed_inputs = read_input_file(input_file) if input_file else {}
    text_inputs = parse_input_options(input_values or [])
    if server:
        if agents or max_parallel or db or secrets_file:
            fail(
                "--agents, --max-parallel, --db and --secrets-file are for local runs: "
                "a server uses its own"
            )
        # The server validates (in its own --mode); without the agents here, pin types are
        # unknown, so a command-line value is JSON when it parses, else a string.
        inputs = typed_inputs | {k: parse_input_text(v, None) for k, v in text_inputs.items()}
        record = _submit(server, api_key, flow, inputs, output=output)
        _finish(record, output)
        return
    enforced = cli_policy(policy)
    try:
        prepared, findings = prepare_flow(
            flow,
            agent_dirs=agents or [],
            inputs=typed_inputs,
            text_inputs=text_inputs,
            mode=mode,
            policy=enforced,
        )
    except UsageError as exc:
        fail(str(exc))
    print_findings(findings)
    if prepared is None:
        if any(is_policy_rule(f.rule) for f in findings if f.severity == "error"):
            fail(f"{flow}: not run, it breaks policy {enforced.name!r}", EXIT_FAILED)
        fail(f"{flow}: not run, the flow is invalid", EXIT_FAILED)
    access = AgentAccess(
        secret_source=secret_source(secrets_file), secret_policy=enforced.allows_secret
    )
    with store_session(db) as store:
        record = _execute(store, prepared, max_parallel=max_parallel, output=output, access=access)
    _finish(record, output)


def _finish(record: RunRecord, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(record.model_dump(mode="json"))
    else:
        render_outputs(console, record)
    if record.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


def _submit(
    server: str, api_key: str | None, flow: Path, inputs: dict[str, Any], *, output: OutputFormat
) -> RunRecord:
    try:
        document, findings = read_document(flow)
    except UsageError as exc:
        fail(str(exc))
    if document is None:
        print_findings(findings)
        fail(f"{flow}: not run, the flow is unreadable", EXIT_FAILED)
    quiet = output is OutputFormat.JSON
    # An invalid flow (422) exits 1, as it does locally; only a malformed request exits 2.
    with remote_session(server, api_key, usage_statuses={400}) as client:
        ref = client.create_run(document.data, inputs)
        record = client.get_run(ref.id)
        view = RunView(console, list(record.nodes), live=not quiet and console.is_terminal)
        if not quiet:
            console.print(f"run {ref.id} started")
        with contextlib.nullcontext() if quiet else view:
            on_event = (lambda _: None) if quiet else view.on_event
            return follow_run(client, ref.id, on_event, cancel_on_interrupt=True)


def _execute(
    store: SqlRunStore,
    prepared: PreparedRun,
    *,
    max_parallel: int | None,
    output: OutputFormat,
    access: AgentAccess,
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
            access=access,
        )

    with contextlib.nullcontext() if quiet else view:
        return asyncio.run(main())
