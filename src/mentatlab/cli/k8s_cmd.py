"""``mentatctl k8s``: MentatLab's Kubernetes manifests (CRDs, operator, RBAC)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import EXIT_FAILED, console, fail

__all__ = ["app"]

app = typer.Typer(help="Kubernetes: custom resources and the operator.", no_args_is_help=True)


@app.command("render")
def render(
    kustomize: Annotated[
        Path | None,
        typer.Option(help="write the kustomize base into this directory instead of printing"),
    ] = None,
) -> None:
    """Print every manifest (namespace, CRDs, operator, RBAC) as one YAML stream.

    Install with: mentatctl k8s render | kubectl apply --server-side -f -
    """
    from mentatlab.k8s import deploy_manifests, to_yaml, write_kustomize

    if kustomize is None:
        # Plain write: Rich would wrap lines and break the YAML.
        sys.stdout.write(to_yaml(deploy_manifests()))
        return
    try:
        written = write_kustomize(kustomize)
    except OSError as exc:
        fail(f"cannot write {kustomize}: {exc}", EXIT_FAILED)
    for path in written:
        console.print(f"wrote {path}", markup=False)
