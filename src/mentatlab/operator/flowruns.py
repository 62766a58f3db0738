"""Reconciling one FlowRun: resolve its flow and agents, run it on the engine through the
Kubernetes driver, and keep its status current — resuming after an operator restart.

The run's durable state is the run store (the same event log as a local run); the FlowRun
status is a projection of it, refreshed while the run goes on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import Toleration
from lightkube.resources.core_v1 import Pod, Secret
from lightkube.types import PatchType

from mentatlab.engine.attempts import AgentLimits
from mentatlab.engine.drivers.kubernetes import (
    KubernetesDriver,
    LogSource,
    Owner,
    PodOptions,
    Timeouts,
    attempt_name,
)
from mentatlab.engine.drivers.kubernetes.names import label_value
from mentatlab.engine.drivers.kubernetes.pods import LABEL_FLOWRUN
from mentatlab.engine.plan import AgentBinding, FlowPlan, PlanError
from mentatlab.engine.secrets import MappingSecrets
from mentatlab.k8s.admission import pod_policy_problems
from mentatlab.k8s.objects import (
    FlowRunSpec,
    InvalidResourceError,
    cr_to_flow,
    cr_to_flowrun,
    cr_to_manifest,
)
from mentatlab.k8s.run_pods import run_pod_options
from mentatlab.k8s.status import FlowRunPhase, PodGC
from mentatlab.model.flow import Flow
from mentatlab.model.policy import Policy
from mentatlab.model.run import EventType, Executor, RunEvent, RunRecord
from mentatlab.operator.resources import AgentResource, FlowResource, FlowRunResource, as_dict
from mentatlab.operator.status import flowrun_status, invalid_status
from mentatlab.service.execution import AgentAccess, resume_run
from mentatlab.store import RunOwner, SqlRunStore
from mentatlab.validation import (
    AgentCatalog,
    AgentResolutionError,
    ResolvedAgent,
    Severity,
    default_policy,
    is_policy_rule,
    validate_flow_data,
)

__all__ = ["DEFAULT_SECRETS_NAME", "FlowRunWorker", "OperatorContext", "PostEvent"]

DEFAULT_SECRETS_NAME = "mentatlab-secrets"

PostEvent = Callable[[str, str, str], None]
"""(type Normal|Warning, reason, message): posts a Kubernetes Event about the FlowRun."""

_TERMINAL_PHASES = {FlowRunPhase.SUCCEEDED, FlowRunPhase.FAILED, FlowRunPhase.CANCELLED}


@dataclass(frozen=True)
class OperatorContext:
    """What every FlowRun worker shares."""

    client: AsyncClient
    store: SqlRunStore
    timeouts: Timeouts | None = None
    log_source: LogSource | None = None
    status_interval_seconds: float = 0.5
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Added to every FlowRun's node selector (e.g. to pin test pods to certain nodes)."""
    tolerations: tuple[Toleration, ...] = ()
    resync_seconds: float = 10.0
    """How often AgentDeployments are reconciled even when nothing changed."""
    agent_limits: AgentLimits = field(default_factory=AgentLimits)
    """Agents' ``maxConcurrent``, counted over every FlowRun this operator runs."""
    policy: Policy = field(default_factory=default_policy)
    """The security policy every FlowRun must meet, pods included, before any pod exists."""
    secrets_name: str = DEFAULT_SECRETS_NAME
    """The Secret, in each FlowRun's namespace, whose keys are the runs' ``runConfig.secrets``."""


class _Invalid(Exception):
    """The FlowRun cannot run as written; the message says why, ``reason`` in a word."""

    def __init__(self, message: str, reason: str = "Invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class FlowRunWorker:
    """Drives one FlowRun from its current state to a final one."""

    context: OperatorContext
    body: Mapping[str, Any]
    """The FlowRun object (a live view when run under kopf)."""
    post_event: PostEvent
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the FlowRun asks to be cancelled or is being deleted."""

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    async def run(self) -> None:
        status = self.body.get("status") or {}
        if status.get("phase") in _TERMINAL_PHASES:
            await self._expire()
            return
        try:
            spec, plan, document = await self._prepare()
        except _Invalid as exc:
            await self.patch_status(
                invalid_status(str(exc), generation=self.generation, now=_now(), reason=exc.reason)
            )
            self.post_event("Warning", exc.reason, str(exc))
            await self._expire()
            return
        run_id = status.get("runId") or await self._create_run(spec, plan, document)
        pod_options = self._pod_options(spec, plan)
        driver = KubernetesDriver(
            self.context.client,
            namespace=self.namespace,
            options=pod_options,
            timeouts=self.context.timeouts,
            log_source=self.context.log_source,
        )
        publisher = _StatusPublisher(self, run_id, pod_options)
        publishing = asyncio.create_task(publisher.loop())
        watching = asyncio.create_task(self._watch_cancel())
        try:
            record = await resume_run(
                self.context.store,
                plan,
                run_id,
                driver=driver,
                max_parallel=spec.options.max_parallel,
                cancel=self.cancel,
                observer=publisher.observe,
                agent_limits=self.context.agent_limits,
                access=AgentAccess(
                    secret_source=await self._secret_source(plan),
                    secret_policy=self.context.policy.allows_secret,
                ),
            )
        finally:
            for task in (publishing, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await publisher.publish()
        self._announce_outcome(record)
        if spec.options.pod_gc is PodGC.ON_RUN_COMPLETION:
            await self._delete_pods()
        await self._expire()

    # --- preparation ----------------------------------------------------------------

    async def _prepare(self) -> tuple[FlowRunSpec, FlowPlan, dict[str, Any]]:
        try:
            spec = cr_to_flowrun(self.body)
        except InvalidResourceError as exc:
            raise _Invalid(str(exc)) from None
        flow = spec.flow or await self._referenced_flow(spec.flow_ref or "")
        catalog = AgentCatalog(agents=await self._agents())
        document = flow.model_dump(mode="json", by_alias=True, exclude_unset=True)
        # Admission, as Kubernetes does it: a run started under the policy of its day keeps
        # running (e.g. after an operator restart with a new policy); its pods exist already.
        admitted = bool((self.body.get("status") or {}).get("runId"))
        policy = None if admitted else self.context.policy
        checked, findings = validate_flow_data(
            document,
            catalog,
            run_inputs=list(spec.inputs),
            file=f"FlowRun {self.name}",
            policy=policy,
        )
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if checked is None:
            if policy is not None and all(is_policy_rule(f.rule) for f in errors):
                _refuse_by_policy(policy, [f"{f.rule} at {f.path}: {f.message}" for f in errors])
            raise _Invalid(
                "the flow is invalid: " + "; ".join(f"{f.path}: {f.message}" for f in errors)
            )
        try:
            bindings = {
                node.id: AgentBinding(catalog.resolve(node.type).manifest, Path("/"))
                for node in checked.graph.nodes
                if node.agent_ref is not None and node.outputs is None
            }
            plan = FlowPlan(checked, bindings)
        except (AgentResolutionError, PlanError) as exc:
            raise _Invalid(str(exc)) from None
        if policy is not None:
            options = self._pod_options(spec, plan)
            pods = pod_policy_problems(plan, options, policy, namespace=self.namespace)
            if pods:
                _refuse_by_policy(policy, pods)
        return spec, plan, document

    async def _secret_source(self, plan: FlowPlan) -> MappingSecrets:
        """The run's secrets from the namespace's Secret, read when the run starts or resumes.

        The values go to agents only inside their attempt's envelope Secret, a mounted
        volume: never into a pod spec, an env var or the FlowRun.
        """
        name = self.context.secrets_name
        where = f"Kubernetes Secret {self.namespace}/{name}"
        if not plan.flow.run_config.secrets:
            return MappingSecrets({}, where)
        try:
            secret = await self.context.client.get(Secret, name, namespace=self.namespace)
        except ApiError as exc:
            # Not found or not readable: every name is then missing, and the run fails
            # saying where it looked.
            return MappingSecrets({}, f"{where} ({exc.status.reason or exc.status.code})")
        values = {}
        for key, encoded in (secret.data or {}).items():
            with contextlib.suppress(ValueError):  # not base64 UTF-8: treated as missing
                values[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        return MappingSecrets(values, where)

    async def _referenced_flow(self, name: str) -> Flow:
        try:
            obj = await self.context.client.get(FlowResource, name, namespace=self.namespace)
        except ApiError as exc:
            raise _Invalid(f"Flow {name!r}: {exc.status.message}") from None
        try:
            return cr_to_flow(as_dict(obj))
        except InvalidResourceError as exc:
            raise _Invalid(f"Flow {name!r} is invalid: {exc}") from None

    async def _agents(self) -> list[ResolvedAgent]:
        agents = []
        async for obj in self.context.client.list(AgentResource, namespace=self.namespace):
            data = as_dict(obj)
            with contextlib.suppress(InvalidResourceError):  # the Agent's own status says why
                manifest = cr_to_manifest(data)
                name = data["metadata"]["name"]
                agents.append(ResolvedAgent(manifest, Path("/"), Path(f"agents/{name}")))
        return agents

    async def _create_run(self, spec: FlowRunSpec, plan: FlowPlan, document: dict[str, Any]) -> str:
        record = self.context.store.create_run(
            flow=document,
            inputs=spec.inputs,
            node_ids=list(plan.nodes),
            flow_id=plan.flow.meta.id,
            flow_name=plan.flow.meta.name,
            owner=RunOwner.kubernetes(self.namespace, self.name),
            executor=Executor.KUBERNETES,
        )
        # Recorded before anything runs, so a restarted operator resumes this very run.
        await self.patch_status({"runId": record.id, "phase": FlowRunPhase.PENDING.value})
        self.post_event("Normal", "Started", f"run {record.id} started")
        return record.id

    def _pod_options(self, spec: FlowRunSpec, plan: FlowPlan) -> PodOptions:
        owner = Owner(
            api_version="mentatlab.io/v1",
            kind="FlowRun",
            name=self.name,
            uid=str(self.body["metadata"]["uid"]),
        )
        return run_pod_options(
            spec.options,
            plan,
            owner=owner,
            name=self.name,
            node_selector=self.context.node_selector,
            tolerations=self.context.tolerations,
            labels=self.context.pod_labels,
        )

    # --- while running --------------------------------------------------------------

    async def _watch_cancel(self) -> None:
        while not self.cancel.is_set():
            if (self.body.get("spec") or {}).get("cancel"):
                self.post_event("Normal", "Cancelling", "spec.cancel is set")
                self.cancel.set()
            await asyncio.sleep(0.25)

    def _announce_outcome(self, record: RunRecord) -> None:
        message = f"run {record.id} {record.status.value}"
        if record.error is not None:
            message += f": {record.error.message}"
        kind = "Normal" if record.status.value == "succeeded" else "Warning"
        self.post_event(kind, record.status.value.capitalize(), message[:1024])

    async def _delete_pods(self) -> None:
        client = self.context.client
        labels: dict[str, Any] = {LABEL_FLOWRUN: label_value(self.name)}
        async for pod in client.list(Pod, namespace=self.namespace, labels=labels):
            if pod.metadata is not None and pod.metadata.name is not None:
                with contextlib.suppress(ApiError):  # already gone
                    await client.delete(Pod, pod.metadata.name, namespace=self.namespace)

    async def _expire(self) -> None:
        """Delete the FlowRun ``ttlSecondsAfterFinished`` after it finished."""
        ttl = (self.body.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = (self.body.get("status") or {}).get("finishedAt")
        if ttl is None:
            return
        if finished:
            ended = datetime.strptime(finished, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            await asyncio.sleep(max(0.0, ttl - (_now() - ended).total_seconds()))
        else:
            await asyncio.sleep(ttl)
        with contextlib.suppress(ApiError):
            await self.context.client.delete(FlowRunResource, self.name, namespace=self.namespace)

    @property
    def generation(self) -> int:
        return int(self.body["metadata"].get("generation", 1))

    async def patch_status(self, status: Mapping[str, Any]) -> None:
        await self.context.client.patch(
            FlowRunResource.Status,
            self.name,
            {"status": dict(status)},
            namespace=self.namespace,
            patch_type=PatchType.MERGE,
        )


class _StatusPublisher:
    """Refreshes the FlowRun status from the store at most every ``status_interval_seconds``,
    and posts an Event for each node transition."""

    def __init__(self, worker: FlowRunWorker, run_id: str, pod_options: PodOptions) -> None:
        self._worker = worker
        self._run_id = run_id
        self._pod_options = pod_options
        self._dirty = asyncio.Event()
        self._previous: Mapping[str, Any] = worker.body.get("status") or {}

    def observe(self, event: RunEvent) -> None:
        if event.type in (EventType.NODE_STATUS, EventType.RUN_STATUS):
            self._dirty.set()
        if event.type is EventType.NODE_STATUS and event.node is not None:
            status = str(event.data.get("status"))
            kind = "Warning" if status == "failed" else "Normal"
            attempt = f" (attempt {event.attempt})" if event.attempt else ""
            self._worker.post_event(
                kind, f"Node{status.capitalize()}", f"node {event.node} {status}{attempt}"
            )

    async def loop(self) -> None:
        while True:
            await self._dirty.wait()
            await self.publish()
            await asyncio.sleep(self._worker.context.status_interval_seconds)

    async def publish(self) -> None:
        self._dirty.clear()
        record = self._worker.context.store.get_run(self._run_id)
        status = flowrun_status(
            record,
            generation=self._worker.generation,
            pod_name=lambda node, attempt: attempt_name(self._pod_options, node, attempt),
            now=_now(),
            previous=self._previous,
        )
        self._previous = status
        await self._worker.patch_status(status)


def _refuse_by_policy(policy: Policy, problems: list[str]) -> NoReturn:
    raise _Invalid(
        f"the FlowRun breaks policy {policy.name!r}: " + "; ".join(problems), "PolicyViolation"
    )


def _now() -> datetime:
    return datetime.now(UTC)
