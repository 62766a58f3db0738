"""The server's Kubernetes executor: runs that ask for it execute as pods in one namespace.

The same engine as a local run drives them, through the Kubernetes driver, so their events
reach the store (and the event stream) exactly like a local run's. Each such run gets an
*anchor*, a ConfigMap ``mentatlab-run-<run id>`` that owns every pod and Secret of the run:
deleting it lets Kubernetes' garbage collector delete them all. The anchor is created before
the run's first pod and deleted when the run ends, unless the run's ``podGC`` is ``Never``
(its pods then stay for inspection until someone deletes the anchor).

A server killed mid-run leaves its anchors behind; the store fails such runs as
``interrupted`` when it is next opened, and :meth:`KubernetesExecutor.clean_anchors`, called
when the server starts, deletes the anchors of runs that have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx2
from lightkube import ApiError, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import CascadeType
from starlette.concurrency import run_in_threadpool

from mentatlab.engine.drivers.attempt import start_failed
from mentatlab.engine.drivers.base import AttemptResult, AttemptSpec, Driver, EventCallback
from mentatlab.engine.drivers.kubernetes import (
    KubernetesDriver,
    LogSource,
    Owner,
    Timeouts,
    cluster_client,
)
from mentatlab.engine.drivers.kubernetes.watch import describe_api_error
from mentatlab.engine.plan import FlowPlan
from mentatlab.k8s.admission import pod_policy_problems
from mentatlab.k8s.run_pods import run_pod_options
from mentatlab.model.kubernetes import DEFAULT_MAX_PARALLEL_PODS, KubernetesRunOptions, PodGC
from mentatlab.model.policy import Policy
from mentatlab.model.run import TERMINAL_RUN_STATUSES
from mentatlab.store import RunNotFoundError, SqlRunStore

__all__ = [
    "ANCHOR_PREFIX",
    "LABEL_RUN_ID",
    "MANAGED_BY",
    "KubernetesExecutor",
    "KubernetesTarget",
    "anchor_name",
]

logger = logging.getLogger(__name__)

ANCHOR_PREFIX: Final = "mentatlab-run-"
MANAGED_BY: Final = "mentatlab-server"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_RUN_ID: Final = "mentatlab.io/run-id"
ANNOTATION_POD_GC: Final = "mentatlab.io/pod-gc"

_API_ERRORS = (ApiError, httpx2.HTTPError, TimeoutError)


@dataclass(frozen=True, kw_only=True)
class KubernetesTarget:
    """Where a server runs pods: a cluster (as lightkube reads its config) and a namespace."""

    config: KubeConfig
    namespace: str
    timeouts: Timeouts | None = None


def anchor_name(run_id: str) -> str:
    """The anchor ConfigMap of a run (run ids are lowercase alphanumeric, 27 characters)."""
    return ANCHOR_PREFIX + run_id


class KubernetesExecutor:
    """Runs' pods in ``target.namespace``; :meth:`close` it when the server stops."""

    def __init__(self, target: KubernetesTarget, *, log_source: LogSource | None = None) -> None:
        self.namespace = target.namespace
        self._client = cluster_client(target.config)
        self._timeouts = target.timeouts or Timeouts()
        self._log_source = log_source

    def problems(self, plan: FlowPlan, options: KubernetesRunOptions, policy: Policy) -> list[str]:
        """Why ``plan`` cannot run as pods with ``options`` under ``policy``: nothing when it
        can."""
        problems = [
            f"node {node_id!r}: agent {binding.manifest.ref} has no image to run on Kubernetes"
            for node_id, binding in plan.agents.items()
            if not binding.manifest.image
        ]
        placeholder = Owner(api_version="v1", kind="ConfigMap", name="check", uid="check")
        try:
            pod_options = run_pod_options(options, plan, owner=placeholder, name="check")
        except ValueError as exc:
            return [*problems, f"kubernetes: {exc}"]
        return problems + pod_policy_problems(plan, pod_options, policy, namespace=self.namespace)

    @contextlib.asynccontextmanager
    async def driver(
        self, run_id: str, plan: FlowPlan, options: KubernetesRunOptions
    ) -> AsyncIterator[Driver]:
        """A driver running the run's attempts as pods; on exit (the run has ended) the
        run's anchor goes, and with it every pod the run left."""
        driver = _AnchoredDriver(
            anchor_name(run_id), functools.partial(self._start, run_id, plan, options)
        )
        try:
            yield driver
        finally:
            if driver.anchored and options.pod_gc is not PodGC.NEVER:
                await self._delete_anchor(run_id)

    async def clean_anchors(self, store: SqlRunStore) -> None:
        """Delete the anchors of finished runs of ``store`` (a server killed mid-run left
        them), except those whose run keeps its pods (``podGC: Never``). Anchors of runs
        the store does not know belong to another server: they are left alone."""
        labels: dict[str, Any] = {LABEL_MANAGED_BY: MANAGED_BY}
        try:
            async for anchor in self._client.list(
                ConfigMap, namespace=self.namespace, labels=labels
            ):
                metadata = anchor.metadata
                if metadata is None or metadata.name is None:
                    continue
                run_id = (metadata.labels or {}).get(LABEL_RUN_ID)
                kept = (metadata.annotations or {}).get(ANNOTATION_POD_GC) == PodGC.NEVER.value
                if run_id is None or kept or not await _finished(store, run_id):
                    continue
                logger.info("deleting the anchor of finished run %s and its pods", run_id)
                await self._delete_anchor(run_id)
        except _API_ERRORS as exc:
            logger.warning("could not clean up the anchors of finished runs: %s", exc)

    async def close(self) -> None:
        await self._client.close()

    async def _start(
        self, run_id: str, plan: FlowPlan, options: KubernetesRunOptions
    ) -> KubernetesDriver:
        """Create the run's anchor, then the driver whose pods it owns."""
        owner = await self._create_anchor(run_id, options)
        return KubernetesDriver(
            self._client,
            namespace=self.namespace,
            options=run_pod_options(options, plan, owner=owner, name=run_id),
            timeouts=self._timeouts,
            log_source=self._log_source,
        )

    async def _create_anchor(self, run_id: str, options: KubernetesRunOptions) -> Owner:
        name = anchor_name(run_id)
        anchor = ConfigMap(
            metadata=ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_RUN_ID: run_id},
                annotations={ANNOTATION_POD_GC: options.pod_gc.value},
            )
        )
        async with asyncio.timeout(self._timeouts.request_seconds):
            try:
                created = await self._client.create(anchor)
            except ApiError as exc:
                if exc.status.code != 409:
                    raise
                # Created by a request of ours that timed out: the run's ids are unique.
                created = await self._client.get(ConfigMap, name, namespace=self.namespace)
        uid = created.metadata.uid if created.metadata is not None else None
        if uid is None:  # every object the API server returns has one
            raise TimeoutError(f"the API server returned ConfigMap {name} without a uid")
        return Owner(api_version="v1", kind="ConfigMap", name=name, uid=uid)

    async def _delete_anchor(self, run_id: str) -> None:
        try:
            async with asyncio.timeout(self._timeouts.request_seconds):
                # Background: the garbage collector deletes the pods after the anchor is gone.
                await self._client.delete(
                    ConfigMap,
                    anchor_name(run_id),
                    namespace=self.namespace,
                    cascade=CascadeType.BACKGROUND,
                )
        except ApiError as exc:
            if exc.status.code != 404:
                logger.warning("could not delete the anchor of run %s: %s", run_id, exc)
        except (httpx2.HTTPError, TimeoutError) as exc:
            logger.warning("could not delete the anchor of run %s: %s", run_id, exc)


class _AnchoredDriver:
    """The Kubernetes driver of one run, started (anchor created) by its first attempt: a
    run of built-in nodes creates nothing. A failure to create the anchor fails that attempt
    like a pod that cannot be created, so the run ends: it never hangs."""

    resolves_env_references = True
    default_parallelism = DEFAULT_MAX_PARALLEL_PODS

    def __init__(self, anchor: str, start: Callable[[], Awaitable[KubernetesDriver]]) -> None:
        self._anchor = anchor
        self._start = start
        self._lock = asyncio.Lock()
        self._driver: KubernetesDriver | None = None
        self.anchored = False
        """Whether the anchor may exist (its creation was at least attempted)."""

    async def run_attempt(
        self, spec: AttemptSpec, *, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        try:
            async with self._lock:
                if self._driver is None:
                    self.anchored = True
                    self._driver = await self._start()
        except _API_ERRORS as exc:
            reason = describe_api_error(exc)
            return start_failed(f"cannot create the run's ConfigMap {self._anchor}: {reason}")
        return await self._driver.run_attempt(spec, on_event=on_event, cancel=cancel)


async def _finished(store: SqlRunStore, run_id: str) -> bool:
    try:
        record = await run_in_threadpool(store.get_run, run_id)
    except RunNotFoundError:
        return False
    return record.status in TERMINAL_RUN_STATUSES
