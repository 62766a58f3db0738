"""The Kubernetes driver: each attempt of an agent node is a bare pod.

The same flow engine that starts local processes runs nodes as pods through this driver; the
operator builds one per FlowRun. ``docs/kubernetes-driver.md`` describes the pods and every
decision in prose.
"""

from __future__ import annotations

import asyncio
import functools

import httpx2
from lightkube import ApiError, AsyncClient

from mentatlab.engine.drivers.attempt import start_failed
from mentatlab.engine.drivers.base import AttemptResult, AttemptSpec, EventCallback
from mentatlab.engine.drivers.kubernetes.adopt import ForeignObjectError, create_or_adopt
from mentatlab.engine.drivers.kubernetes.logs import LogSource, PodLogApi
from mentatlab.engine.drivers.kubernetes.pods import (
    PodOptions,
    attempt_name,
    build_pod,
    build_secret,
)
from mentatlab.engine.drivers.kubernetes.supervisor import PodAttempt
from mentatlab.engine.drivers.kubernetes.timeouts import Timeouts
from mentatlab.engine.drivers.kubernetes.watch import describe_api_error
from mentatlab.model.kubernetes import DEFAULT_MAX_PARALLEL_PODS

__all__ = ["KubernetesDriver"]


class KubernetesDriver:
    """Runs each attempt as a pod in ``namespace``; implements :class:`Driver`.

    ``log_source`` defaults to the API server's ``pods/log``; tests of simulated clusters may
    pass another. Cancelling the task that runs :meth:`run_attempt` (``CancelledError``)
    leaves the pod alone: the operator may be restarting and will adopt it.
    """

    resolves_env_references = True  # valueFrom becomes the container's env source
    default_parallelism = DEFAULT_MAX_PARALLEL_PODS  # pods run on the cluster, not here

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        options: PodOptions,
        timeouts: Timeouts | None = None,
        log_source: LogSource | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._options = options
        self._timeouts = timeouts or Timeouts()
        self._logs = log_source or PodLogApi(client, connect_seconds=self._timeouts.request_seconds)

    async def run_attempt(
        self,
        spec: AttemptSpec,
        *,
        on_event: EventCallback,
        cancel: asyncio.Event,
    ) -> AttemptResult:
        if not spec.image:
            return start_failed(
                f"cannot start agent {spec.agent_id}@{spec.agent_version} on Kubernetes: "
                "its manifest has no image"
            )
        if not spec.command:
            return start_failed("cannot start agent: the agent has no command to run")
        options = self._options
        name = attempt_name(options, spec.node_id, spec.attempt)
        manifest = options.agents(spec.agent_id, spec.agent_version) if options.agents else None
        attempt = PodAttempt(
            self._client,
            spec,
            namespace=self._namespace,
            name=name,
            gc=options.gc,
            timeouts=self._timeouts,
            log_source=self._logs,
            on_event=on_event,
            cancel=cancel,
        )
        secret = build_secret(spec, options, name=name, namespace=self._namespace)
        pod = build_pod(spec, options, name=name, namespace=self._namespace, manifest=manifest)
        adopt = functools.partial(
            create_or_adopt,
            self._client,
            run_id=spec.run_id,
            owner_uid=options.owner.uid,
            request_seconds=self._timeouts.request_seconds,
        )
        try:
            # The Secret first: a pod whose Secret is missing would wait in ContainerCreating.
            await adopt(secret)
            await adopt(pod)
        except ForeignObjectError as exc:
            return start_failed(f"cannot start agent: {exc}")
        except (ApiError, httpx2.HTTPError, TimeoutError) as exc:
            await attempt.delete_secret()
            return start_failed(f"cannot create pod {name}: {describe_api_error(exc)}")
        return await attempt.run()
