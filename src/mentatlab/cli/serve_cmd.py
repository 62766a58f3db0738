"""``mentatctl serve``: the MentatLab HTTP server on this machine's engine and run store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentatlab.cli.common import fail, store_session
from mentatlab.cli.policy_cmd import PolicyOption, cli_policy
from mentatlab.cli.secret_sources import SecretsFileOption, secret_source
from mentatlab.store import key_id_of, resolve_home

if TYPE_CHECKING:
    from mentatlab.api.kubernetes import KubernetesTarget

__all__ = ["ADMIN_KEY_ENV", "KUBECONFIG_ENV", "NAMESPACE_ENV", "serve"]

ADMIN_KEY_ENV = "MENTATLAB_ADMIN_KEY"
KUBECONFIG_ENV = "MENTATLAB_KUBECONFIG"
NAMESPACE_ENV = "MENTATLAB_NAMESPACE"


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            help="run store URL (sqlite:///PATH or postgresql+psycopg://…); "
            "default: $MENTATLAB_HOME/store.db"
        ),
    ] = None,
    agents: Annotated[
        list[Path] | None,
        typer.Option("--agents", help="directory of Cog-Paks for submitted flows (repeatable)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="runs executing at once")] = 4,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, help="largest request body accepted (default 1 MiB)")
    ] = None,
    heartbeat_seconds: Annotated[
        float, typer.Option(min=0.1, help="idle time before an event stream sends a ping")
    ] = 15.0,
    metrics_open: Annotated[
        bool, typer.Option("--metrics-open", help="serve /metrics without an API key")
    ] = False,
    policy: PolicyOption = None,
    secrets_file: SecretsFileOption = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            envvar=KUBECONFIG_ENV,
            help="run runs that ask for Kubernetes as pods of this cluster",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            envvar=NAMESPACE_ENV,
            help="namespace of those pods (default: the kubeconfig's); alone, it enables "
            "Kubernetes with $KUBECONFIG or the in-cluster account",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API until SIGTERM or Ctrl-C (runs in flight end cancelled).

    MENTATLAB_ADMIN_KEY (from mentatctl apikey generate) registers an admin key at start.
    With --kubeconfig or --namespace, runs submitted with `kubernetes` options execute as
    pods (docs/server.md).
    """
    # Lazy: FastAPI and uvicorn take a second or two to import, other commands need neither.
    from mentatlab.api import Settings
    from mentatlab.api.server import serve as run_server
    from mentatlab.api.settings import DEFAULT_MAX_BODY_BYTES

    enforced = cli_policy(policy)  # read once at start: a bad policy file stops here
    source = secret_source(secrets_file)  # read once too: values live in memory only
    kubernetes = _kubernetes_target(kubeconfig, namespace)
    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    if admin_key is not None and key_id_of(admin_key) is None:
        fail(f"{ADMIN_KEY_ENV} is not an API key; make one with: mentatctl apikey generate")
    with store_session(db) as store:
        run_server(
            Settings(
                store=store,
                host=host,
                port=port,
                max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                workers=workers,
                metrics_open=metrics_open,
                heartbeat_seconds=heartbeat_seconds,
                agent_dirs=tuple(path.resolve() for path in agents or ()),
                admin_key=admin_key,
                policy=enforced,
                secret_source=source,
                home=resolve_home(),
                kubernetes=kubernetes,
            )
        )


def _kubernetes_target(kubeconfig: Path | None, namespace: str | None) -> KubernetesTarget | None:
    """The cluster and namespace of the server's Kubernetes executor; ``None``: none."""
    from lightkube import ConfigError, KubeConfig

    from mentatlab.api.kubernetes import KubernetesTarget

    if kubeconfig is None and namespace is None:
        return None
    where = f"--kubeconfig {kubeconfig}" if kubeconfig else "$KUBECONFIG or the in-cluster account"
    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        context = config.get()
    except (ConfigError, LookupError, ValueError, OSError) as exc:
        fail(f"cannot read the Kubernetes configuration ({where}): {exc}")
    if context is None:
        fail(f"the Kubernetes configuration ({where}) has no current context")
    return KubernetesTarget(config=config, namespace=namespace or context.namespace or "default")
