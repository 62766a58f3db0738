"""``mentatctl operator run``: the Kubernetes operator, run from a workstation or in-cluster."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import EXIT_FAILED, DbOption, cli_store_url, fail
from mentatlab.cli.policy_cmd import PolicyOption, cli_policy
from mentatlab.store import StoreError

__all__ = ["app"]

app = typer.Typer(help="The MentatLab Kubernetes operator.", no_args_is_help=True)


@app.command("run")
def run(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="kubeconfig file (default: $KUBECONFIG, else the in-cluster account)"),
    ] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="namespace to watch (repeatable; default: all)"),
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="run store directory (default: $MENTATLAB_HOME)")
    ] = None,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    policy: PolicyOption = None,
) -> None:
    """Reconcile Agents, Flows and FlowRuns until SIGINT or SIGTERM, refusing FlowRuns
    that break the security policy."""
    from mentatlab.operator.app import OperatorOptions, run_operator

    if kubeconfig is not None and not kubeconfig.is_file():
        fail(f"--kubeconfig {kubeconfig}: no such file")
    database_url = cli_store_url(db, home=home)
    enforced = cli_policy(policy)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = OperatorOptions(
        kubeconfig=kubeconfig,
        namespaces=tuple(namespace or ()),
        home=home,
        database_url=database_url,
        policy=enforced,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_operator(options, stop=stop)

    try:
        asyncio.run(main())
    except StoreError as exc:  # opening the store (the operator's first step), or later
        fail(str(exc), EXIT_FAILED)
