"""``mentatctl validate``: check manifests, Cog-Pak directories and flows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import EXIT_FAILED, OutputFormat, console, fail, print_json
from mentatlab.cli.policy_cmd import PolicyOption, cli_policy
from mentatlab.validation import Mode, UsageError, validate_paths

__all__ = ["validate"]


def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="manifest.yaml files, Cog-Pak directories, flows")
    ],
    mode: Annotated[
        Mode, typer.Option(help="permissive turns rule violations into warnings")
    ] = Mode.STRICT,
    agents: Annotated[
        list[Path] | None, typer.Option("--agents", help="directory of Cog-Paks (repeatable)")
    ] = None,
    output: Annotated[OutputFormat, typer.Option(help="text or json")] = OutputFormat.TEXT,
    policy: PolicyOption = None,
) -> None:
    """Validate agent manifests and flows, and enforce the security policy on them.
    Exit 0 valid, 1 invalid, 2 usage error."""
    enforced = cli_policy(policy)
    try:
        report = validate_paths(paths, agent_dirs=agents or [], mode=mode, policy=enforced)
    except UsageError as exc:
        fail(str(exc))
    if output is OutputFormat.JSON:
        print_json(report.to_json())
    else:
        for finding in report.findings:
            style = "red" if finding.severity == "error" else "yellow"
            console.print(str(finding), style=style, markup=False)
        verdict = "valid" if report.valid else "invalid"
        console.print(
            f"{len(paths)} path(s) {verdict}: {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s)",
            style="green" if report.valid else "bold red",
        )
    if not report.valid:
        raise typer.Exit(EXIT_FAILED)
