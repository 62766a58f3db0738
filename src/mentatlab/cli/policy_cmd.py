"""``mentatctl policy``: show the security policy in force, check a policy file; and the
``--policy`` option of every command that enforces one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from ruamel.yaml import YAML

from mentatlab.cli.common import EXIT_FAILED, OutputFormat, console, fail, print_json
from mentatlab.cli.inputs import print_findings
from mentatlab.model.policy import Policy
from mentatlab.validation import (
    POLICY_ENV,
    PolicyError,
    UsageError,
    ValidationReport,
    load_policy,
    policy_in_force,
)

__all__ = ["PolicyOption", "app", "cli_policy"]

PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        envvar=POLICY_ENV,
        metavar="FILE",
        help=f"security policy file (default: ${POLICY_ENV}, else MentatLab's default policy)",
    ),
]
"""The ``--policy FILE`` option (``MENTATLAB_POLICY``): pass its value to :func:`cli_policy`."""

app = typer.Typer(help="The security policy MentatLab enforces.", no_args_is_help=True)


def cli_policy(path: Path | None) -> Policy:
    """The policy a command enforces; exits 2 with every located problem if the file is bad."""
    try:
        return policy_in_force(path)
    except PolicyError as exc:
        print_findings(exc.findings)
        fail(f"{path}: invalid policy, nothing done")
    except UsageError as exc:
        fail(f"--policy: {exc}")


@app.command("show")
def show(policy: PolicyOption = None) -> None:
    """Print the policy in force (--policy, else $MENTATLAB_POLICY, else the default) as YAML."""
    selected = cli_policy(policy)
    origin = f"from {policy}" if policy is not None else "MentatLab's default policy"
    data = selected.model_dump(mode="json", by_alias=True)
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    # Spelled out: an empty value would read as "not set" rather than "none".
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    yaml.dump(data, stream)
    # Plain print: Rich would reflow the YAML.
    print(f"# policy {selected.name!r}: {origin}\n{stream.getvalue()}", end="")


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="policy file (.yaml, .yml, .json)")],
    output: Annotated[OutputFormat, typer.Option(help="text or json")] = OutputFormat.TEXT,
) -> None:
    """Check a policy file against its schema. Exit 0 valid, 1 invalid, 2 usage error."""
    try:
        _, findings = load_policy(file)
    except UsageError as exc:
        fail(str(exc))
    report = ValidationReport.of(findings)
    if output is OutputFormat.JSON:
        print_json(report.to_json())
    else:
        print_findings(report.findings, to=console)
        verdict = "valid" if report.valid else f"invalid: {len(report.errors)} error(s)"
        console.print(f"{file}: {verdict}", style="green" if report.valid else "bold red")
    if not report.valid:
        raise typer.Exit(EXIT_FAILED)
