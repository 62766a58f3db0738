"""``mentatctl``: the command line of MentatLab.

Every command reports bad input as a short located message and an exit code, never as a
traceback: 0 success, 1 invalid input or a failed run, 2 usage error (a missing file, a
malformed option). Set ``MENTATLAB_DEBUG=1`` to see tracebacks of internal errors.
"""

from __future__ import annotations

import os
import sys

import typer

from mentatlab.cli.agent_cmd import app as agent_app
from mentatlab.cli.apikey_cmd import app as apikey_app
from mentatlab.cli.audit_cmd import app as audit_app
from mentatlab.cli.common import EXIT_INTERNAL, err_console
from mentatlab.cli.k8s_cmd import app as k8s_app
from mentatlab.cli.operator_cmd import app as operator_app
from mentatlab.cli.policy_cmd import app as policy_app
from mentatlab.cli.run_cmd import run
from mentatlab.cli.runs_cmd import app as runs_app
from mentatlab.cli.serve_cmd import serve
from mentatlab.cli.signing_cmd import keys_app
from mentatlab.cli.validate_cmd import validate

__all__ = ["app", "main"]

app = typer.Typer(
    name="mentatctl",
    help="MentatLab: run typed agents (Cog-Paks) in declarative flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("validate")(validate)
app.command("run")(run)
app.command("serve")(serve)
app.add_typer(runs_app, name="runs")
app.add_typer(agent_app, name="agent")
app.add_typer(operator_app, name="operator")
app.add_typer(k8s_app, name="k8s")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")


def main() -> None:
    try:
        app()
    except Exception as exc:  # anything reaching here is a MentatLab bug, not bad input
        if os.environ.get("MENTATLAB_DEBUG"):
            raise
        err_console.print(
            f"mentatctl: internal error: {type(exc).__name__}: {exc}\n"
            "Run again with MENTATLAB_DEBUG=1 for details, and please report it.",
            markup=False,
            highlight=False,
        )
        sys.exit(EXIT_INTERNAL)
