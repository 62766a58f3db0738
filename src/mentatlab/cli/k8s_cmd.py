"""``mentatctl k8s``: MentatLab's Kubernetes manifests (CRDs, operator, RBAC)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mentatlab.cli.common import EXIT_FAILED, console, fail
from mentatlab.cli.inputs import parse_input_options, print_findings, read_input_file

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


@app.command("submit")
def submit(
    flow: Annotated[Path, typer.Argument(help="flow file (.yaml, .yml, .json, .mlab)")],
    agents: Annotated[
        list[Path] | None, typer.Option("--agents", help="directory of Cog-Paks (repeatable)")
    ] = None,
    input_values: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="NODE.PIN=VALUE (repeatable)"),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="YAML/JSON mapping of NODE.PIN to values")
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file (default: $KUBECONFIG)")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    wait: Annotated[bool, typer.Option(help="follow the run; exit 0 on success, 1 otherwise")] = (
        False
    ),
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Create the flow's Agents and Flow (server-side apply) and a FlowRun of it."""
    from lightkube import ApiError, Client, KubeConfig

    from mentatlab.k8s.objects import agent_to_cr, flow_to_cr, flowrun_cr
    from mentatlab.operator.resources import AgentResource, FlowResource, FlowRunResource
    from mentatlab.service.preparation import prepare_flow
    from mentatlab.validation import UsageError

    typed = read_input_file(input_file) if input_file else {}
    try:
        prepared, findings = prepare_flow(
            flow,
            agent_dirs=agents or [],
            inputs=typed,
            text_inputs=parse_input_options(input_values or []),
        )
    except UsageError as exc:
        fail(str(exc))
    print_findings(findings)
    if prepared is None:
        fail(f"{flow}: not submitted, the flow is invalid", EXIT_FAILED)
    if kubeconfig is not None and not kubeconfig.is_file():
        fail(f"--kubeconfig {kubeconfig}: no such file")
    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        client = Client(config, namespace=namespace, field_manager="mentatctl")
        for binding in {b.manifest.ref: b for b in prepared.plan.agents.values()}.values():
            client.apply(
                AgentResource.from_dict(agent_to_cr(binding.manifest, namespace=namespace))
            )
        flow_object = client.apply(
            FlowResource.from_dict(flow_to_cr(prepared.plan.flow, namespace=namespace))
        )
        name = flow_object.metadata.name if flow_object.metadata else None
        run = client.create(
            FlowRunResource.from_dict(flowrun_cr(name or "", prepared.inputs, namespace=namespace))
        )
    except ApiError as exc:
        fail(f"the API server refused: {exc.status.message}", EXIT_FAILED)
    except Exception as exc:
        fail(f"cannot reach Kubernetes: {type(exc).__name__}: {exc}", EXIT_FAILED)
    run_name = run.metadata.name if run.metadata else ""
    console.print(f"flowrun/{run_name} created in {namespace}", markup=False)
    if wait:
        _follow(client, run_name, namespace, timeout)


def _follow(client: Any, name: str, namespace: str, timeout: float) -> None:
    """Print node transitions until the FlowRun finishes; exit 1 unless it succeeded."""
    from mentatlab.operator.resources import FlowRunResource, as_dict

    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = as_dict(client.get(FlowRunResource, name, namespace=namespace)).get("status", {})
        for node, entry in (status.get("nodes") or {}).items():
            phase = entry.get("phase", "")
            if seen.get(node) != phase:
                seen[node] = phase
                console.print(f"{node} {phase.lower()}", markup=False)
        phase = status.get("phase")
        if phase in ("Succeeded", "Failed", "Cancelled"):
            console.print(f"flowrun/{name} {phase} (run {status.get('runId')})", markup=False)
            if status.get("message"):
                console.print(f"error: {status['message']}", markup=False)
            raise typer.Exit(0 if phase == "Succeeded" else EXIT_FAILED)
        time.sleep(0.5)
    fail(f"flowrun/{name} did not finish within {timeout:g}s", EXIT_FAILED)
