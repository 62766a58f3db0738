"""The operator process: kopf handlers for MentatLab's resources, and how to start them.

kopf watches the resources (with explicit watch timeouts, so a silently dropped connection is
noticed) and keeps one daemon per FlowRun. A daemon survives nothing: when the operator
restarts, kopf starts a daemon again for every FlowRun, and the worker resumes the run from the
store — pods already running are adopted by their deterministic names, so none is duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from lightkube import KubeConfig

from mentatlab.engine.drivers.kubernetes import cluster_client
from mentatlab.k8s.objects import InvalidResourceError, cr_to_flow, cr_to_manifest
from mentatlab.model.policy import Policy
from mentatlab.operator.agentdeployments import reconcile_agent_deployment
from mentatlab.operator.flowruns import FlowRunWorker, OperatorContext, PostEvent
from mentatlab.operator.status import ready_condition
from mentatlab.store import SqlRunStore, open_store
from mentatlab.validation import default_policy

__all__ = ["OperatorOptions", "build_registry", "run_operator"]

GROUP, VERSION = "mentatlab.io", "v1"


@dataclass(frozen=True)
class OperatorOptions:
    kubeconfig: Path | None = None
    """None: in-cluster service account, else ``$KUBECONFIG``."""
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means the whole cluster."""
    home: Path | None = None
    """Run store directory (``$MENTATLAB_HOME`` by default) of a SQLite store."""
    context: OperatorContext | None = None
    """Tests pass a prepared context (e.g. with their own log source)."""
    database_url: str | None = None
    """The run store's URL (``postgresql+psycopg://…``, ``sqlite:///…``) instead of ``home``."""
    policy: Policy = field(default_factory=default_policy)
    """The security policy FlowRuns must meet (a given ``context`` carries its own)."""

    def __post_init__(self) -> None:
        if self.database_url is not None and self.home is not None:
            raise ValueError("OperatorOptions takes a home directory or a database URL, not both")

    def open_store(self) -> SqlRunStore:
        """The run store these options name (``database_url``, else the SQLite one in
        ``home``); raises :class:`~mentatlab.store.StoreError` when it cannot be opened."""
        if self.database_url is not None:
            return open_store(url=self.database_url)
        return open_store(self.home)


def build_registry(context: OperatorContext) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.watching.server_timeout = 60
        settings.watching.client_timeout = 90
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 30
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.posting.level = logging.INFO
        # Scanning would need cluster-wide read access to CRDs and namespaces: not granted.
        settings.scanning.disabled = True

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if os.environ.get("KUBECONFIG"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs)

    @kopf.daemon(GROUP, VERSION, "flowruns", registry=registry, cancellation_timeout=60)
    async def flowrun(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        worker = FlowRunWorker(context, body, post_event=_poster(body))
        work = asyncio.create_task(worker.run())
        stop = asyncio.ensure_future(stopped.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            reason = stopped.reason or kopf.DaemonStoppingReason(0)
            if kopf.DaemonStoppingReason.RESOURCE_DELETED in reason:
                worker.cancel.set()  # deleting a FlowRun cancels it: its pods are stopped
            else:
                work.cancel()  # the operator is stopping: the run resumes when it is back
        stop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work

    @kopf.on.create(GROUP, VERSION, "agentdeployments", registry=registry)
    @kopf.on.update(GROUP, VERSION, "agentdeployments", registry=registry)
    @kopf.on.resume(GROUP, VERSION, "agentdeployments", registry=registry)
    @kopf.timer(
        GROUP, VERSION, "agentdeployments", registry=registry, interval=context.resync_seconds
    )
    async def agent_deployment(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        # On every change and on a timer: the timer puts back what was edited by hand and
        # follows the Deployment's rollout into the status.
        outcome = await reconcile_agent_deployment(context.client, body, policy=context.policy)
        patch.status.update(outcome.status)
        if outcome.ready_changed:
            ready = outcome.status["conditions"][0]
            kind = "Normal" if ready["status"] == "True" else "Warning"
            kopf.event(body, type=kind, reason=ready["reason"], message=ready["message"])

    @kopf.on.create(GROUP, VERSION, "agents", registry=registry)
    @kopf.on.update(GROUP, VERSION, "agents", registry=registry)
    @kopf.on.resume(GROUP, VERSION, "agents", registry=registry)
    def agent(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        _set_ready(body, patch, lambda: cr_to_manifest(body).ref)

    @kopf.on.create(GROUP, VERSION, "flows", registry=registry)
    @kopf.on.update(GROUP, VERSION, "flows", registry=registry)
    @kopf.on.resume(GROUP, VERSION, "flows", registry=registry)
    def flow(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        _set_ready(body, patch, lambda: f"{len(cr_to_flow(body).graph.nodes)} nodes")

    return registry


async def run_operator(options: OperatorOptions, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or the process is signalled).

    The operator owns its event loop: when it stops, kopf cancels every task still running
    in the loop, not only its own. Run it in a process (or loop) of its own.
    """
    if options.kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(options.kubeconfig)
    context = options.context
    owned_store = None
    if context is None:
        config = (
            KubeConfig.from_file(options.kubeconfig)
            if options.kubeconfig is not None
            else KubeConfig.from_env()
        )
        owned_store = options.open_store()
        context = OperatorContext(
            client=cluster_client(config), store=owned_store, policy=options.policy
        )
    try:
        await kopf.operator(
            registry=build_registry(context),
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            stop_flag=stop,
        )
    finally:
        if owned_store is not None:
            await context.client.close()
            owned_store.close()


def _poster(body: kopf.Body) -> PostEvent:
    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    return post


def _set_ready(body: Mapping[str, Any], patch: kopf.Patch, check: Callable[[], str]) -> None:
    """A Ready condition on an Agent or Flow: whether its spec is a valid document."""
    try:
        summary, ready, reason = str(check()), True, "Valid"
    except InvalidResourceError as exc:
        summary, ready, reason = str(exc), False, "Invalid"
    generation = body.get("metadata", {}).get("generation", 1)
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = [
        ready_condition(
            ready,
            reason,
            summary,
            generation=generation,
            now=datetime.now(UTC),
            previous=(body.get("status") or {}).get("conditions") or (),
        )
    ]
