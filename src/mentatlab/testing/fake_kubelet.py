"""A kubelet for tests and benchmarks: runs the agents of pods on its Node as processes.

kwok simulates pod *status* only; no agent code runs in a kwok pod. So that outputs and events
are tested end to end, :class:`FakeKubelet` plays the kubelet of one extra Node:

- The Node carries the label and taint ``mentatlab.io/fake-kubelet=run-PID`` (NoSchedule) and
  *no* ``kwok.x-k8s.io/node`` annotation, so kwok (``--manage-nodes-with-annotation-selector``)
  neither manages it nor plays the pods bound to it: no kwok Stage needs changing. Pods reach
  it with :attr:`FakeKubelet.node_selector` and :attr:`FakeKubelet.tolerations` (the driver's
  ``PodOptions``). The Node stays Ready through a Lease renewed every few seconds. Node name
  and label value hold the test process's pid, so test sessions sharing one control plane
  never run each other's pods; nodes of killed sessions (their Lease expired) are removed.
  Each kubelet registers a Node of its own name, so it never runs the pods an earlier one
  left bound to its Node.
- For each pod bound to it, it maps the container image to a local Cog-Pak directory (``images``;
  an unknown image reports ``ErrImagePull`` like a kubelet), reads the input envelope from the
  Secret the pod mounts (through the API server), resolves the container's env (literal values
  and ``secretKeyRef``/``configMapKeyRef``), and runs the agent argv (the container's ``args``;
  the ``/bin/sh`` wrapper's only job, feeding the mounted envelope to stdin, is done here
  directly) in the Cog-Pak directory with the envelope on stdin.
- It patches ``pods/status`` as a kubelet does: Running, then Succeeded/Failed with the exit
  code (128 + N for death by signal N); ``OOMKilled`` when the agent's memory (RSS of its
  process tree) exceeds the container's memory limit; ``DeadlineExceeded`` after
  ``activeDeadlineSeconds``. A pod being deleted gets SIGTERM, SIGKILL after its grace period,
  and is then removed (delete with grace 0), as a kubelet confirms a deletion. Status updates,
  removals and Lease renewals are retried with backoff while the API server is unreachable or
  overloaded (up to 30 s), as a kubelet's status manager retries; anything else going wrong
  while running a pod is logged, never dropped silently.
- It serves ``/containerLogs/NS/POD/CONTAINER`` over HTTPS on the port the Node advertises
  (``status.daemonEndpoints.kubeletEndpoint``), so the API server's ``pods/log`` proxies to it
  exactly as to a kubelet: the driver under test reads logs through the real API.
  stdout and stderr are merged, as in a container log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import logging
import os
import signal
import ssl
import subprocess
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx2
import psutil
from aiohttp import web
from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.models.core_v1 import Toleration
from lightkube.operators import exists
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Node, Pod, Secret
from lightkube.types import PatchType

from mentatlab.engine.drivers.kubernetes.pods import ENVELOPE_KEY
from mentatlab.engine.drivers.kubernetes.watch import describe_api_error
from mentatlab.engine.drivers.process import resolve_command

__all__ = ["FAKE_KUBELET_LABEL", "FAKE_KUBELET_VALUE", "FakeKubelet"]

FAKE_KUBELET_LABEL = "mentatlab.io/fake-kubelet"
FAKE_KUBELET_VALUE = f"run-{os.getpid()}"
_INSTANCES = itertools.count()
"""Per test process: concurrent sessions on one control plane each get their own node."""
_LEASE_SECONDS = 40
_RENEW_SECONDS = 5.0
_MEMORY_POLL_SECONDS = 0.05
_API_OUTAGE_SECONDS = 30.0
"""How long a status or lease update is retried while the API server fails, as a kubelet's
status manager keeps retrying its updates."""
_RETRY_FIRST_SECONDS, _RETRY_MAX_SECONDS = 0.1, 2.0
_TRANSIENT_CODES = frozenset({429, 500, 502, 503, 504})

logger = logging.getLogger(__name__)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _until_done(what: str, call: Callable[[], Awaitable[object]]) -> None:
    """Make an API call, again with backoff while the API server is unreachable or overloaded,
    for up to :data:`_API_OUTAGE_SECONDS`. Any other refusal ends it: a pod deleted meanwhile
    (404) has no status left to set. A call that never got through is logged, not raised."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + _API_OUTAGE_SECONDS
    delay = _RETRY_FIRST_SECONDS
    while True:
        try:
            await call()
            return
        except ApiError as exc:
            if exc.status.code not in _TRANSIENT_CODES:
                return
            error: Exception = exc
        except (httpx2.HTTPError, TimeoutError) as exc:
            error = exc
        if loop.time() + delay > give_up:
            logger.warning("fake kubelet: gave up %s: %s", what, describe_api_error(error))
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_SECONDS)


def _memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


@dataclass
class _LogBuffer:
    """A container's combined output; readers follow it until the container has ended."""

    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def append(self, chunk: bytes) -> None:
        async with self.changed:
            self.data += chunk
            self.changed.notify_all()

    async def end(self) -> None:
        async with self.changed:
            self.ended = True
            self.changed.notify_all()


@dataclass
class _Container:
    """One pod's agent process, as far as the fake kubelet knows it."""

    pod: Pod
    log: _LogBuffer = field(default_factory=_LogBuffer)
    deleting: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class FakeKubelet:
    """The kubelet of Node ``node_name``, running agents from ``images`` (image → Cog-Pak)."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        images: Mapping[str, Path],
        node_name: str | None = None,
    ) -> None:
        self._client = client
        self._images = dict(images)
        # A new Node per kubelet: pods an earlier kubelet left bound to its Node (their
        # namespace still being deleted) are never this one's to run.
        self.node_name = node_name or f"fake-kubelet-{os.getpid()}-{next(_INSTANCES)}"
        self._containers: dict[str, _Container] = {}  # by pod uid
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kubelet-")
        self.started_pods: list[str] = []
        """Names of the pods whose agent this kubelet started, in order."""

    node_selector: Mapping[str, str] = {FAKE_KUBELET_LABEL: FAKE_KUBELET_VALUE}
    tolerations: tuple[Toleration, ...] = (
        Toleration(
            key=FAKE_KUBELET_LABEL, operator="Equal", value=FAKE_KUBELET_VALUE, effect="NoSchedule"
        ),
    )

    async def __aenter__(self) -> FakeKubelet:
        port = await self._serve_logs()
        await self._register(port)
        self._tasks = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._watch_pods()),
        ]
        await self._wait_schedulable()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for container in self._containers.values():
            if container.task is not None:
                container.task.cancel()
        for task in self._tasks:
            task.cancel()
        tasks = [c.task for c in self._containers.values() if c.task is not None]
        await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)
        with contextlib.suppress(ApiError):
            await self._client.delete(Node, self.node_name)
        with contextlib.suppress(ApiError):
            await self._client.delete(Lease, self.node_name, namespace="kube-node-lease")
        if self._runner is not None:
            await self._runner.cleanup()
        self._tmp.cleanup()

    # --- the Node -------------------------------------------------------------------------

    async def _register(self, port: int) -> None:
        await self._remove_abandoned_nodes()
        with contextlib.suppress(ApiError):  # left over by an earlier, killed test session
            await self._client.delete(Node, self.node_name, grace_period=0)
        await self._client.create(
            cast(
                Node,
                Node.from_dict(
                    {
                        "metadata": {
                            "name": self.node_name,
                            "labels": {
                                FAKE_KUBELET_LABEL: FAKE_KUBELET_VALUE,
                                "kubernetes.io/hostname": self.node_name,
                                "kubernetes.io/os": "linux",
                            },
                        },
                        "spec": {
                            "taints": [
                                {
                                    "key": FAKE_KUBELET_LABEL,
                                    "value": FAKE_KUBELET_VALUE,
                                    "effect": "NoSchedule",
                                }
                            ]
                        },
                    }
                ),
            )
        )
        resources = {"cpu": "8", "memory": "16Gi", "pods": "110"}
        await self._client.patch(
            Node.Status,
            self.node_name,
            {
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                    "conditions": [self._ready_condition()],
                }
            },
            patch_type=PatchType.MERGE,
        )
        with contextlib.suppress(ApiError):
            await self._client.delete(Lease, self.node_name, namespace="kube-node-lease")
        await self._client.create(
            cast(
                Lease,
                Lease.from_dict(
                    {
                        "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                        "spec": {
                            "holderIdentity": self.node_name,
                            "leaseDurationSeconds": _LEASE_SECONDS,
                            "renewTime": _micro_now(),
                        },
                    }
                ),
            )
        )

    async def _remove_abandoned_nodes(self) -> None:
        """Fake-kubelet nodes whose Lease nobody renews: their test session was killed."""
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2 * _LEASE_SECONDS)
        async for node in self._client.list(Node, labels={FAKE_KUBELET_LABEL: exists()}):
            name = node.metadata.name if node.metadata else None
            if name is None or name == self.node_name:
                continue
            try:
                lease = await self._client.get(Lease, name, namespace="kube-node-lease")
                renewed = lease.spec.renewTime if lease.spec else None
            except ApiError:
                renewed = None
            if renewed is None or renewed < stale:
                with contextlib.suppress(ApiError):
                    await self._client.delete(Node, name, grace_period=0)
                with contextlib.suppress(ApiError):
                    await self._client.delete(Lease, name, namespace="kube-node-lease")

    @staticmethod
    def _ready_condition() -> dict[str, str]:
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "fake kubelet is posting ready status",
            "lastHeartbeatTime": _now(),
            "lastTransitionTime": _now(),
        }

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(_RENEW_SECONDS)
            await _until_done(
                f"renewing the Lease of node {self.node_name}",
                lambda: self._client.patch(
                    Lease,
                    self.node_name,
                    {"spec": {"renewTime": _micro_now()}},
                    namespace="kube-node-lease",
                    patch_type=PatchType.MERGE,
                ),
            )
            await _until_done(
                f"reporting node {self.node_name} Ready",
                lambda: self._client.patch(
                    Node.Status,
                    self.node_name,
                    {"status": {"conditions": [self._ready_condition()]}},
                    patch_type=PatchType.STRATEGIC,
                ),
            )

    async def _wait_schedulable(self) -> None:
        """Until the node lifecycle controller has lifted its not-ready taints, if any."""
        async with asyncio.timeout(60):
            while True:
                node = await self._client.get(Node, self.node_name)
                taints = (node.spec.taints or []) if node.spec else []
                if all(t.key == FAKE_KUBELET_LABEL for t in taints):
                    return
                await asyncio.sleep(0.5)

    # --- pods -----------------------------------------------------------------------------

    async def _watch_pods(self) -> None:
        fields: dict[str, Any] = {"spec.nodeName": self.node_name}
        while True:
            # lightkube's watch is an async generator: aclosing closes its connection here,
            # not whenever the garbage collector finalizes it.
            events = cast(
                AsyncGenerator[tuple[str, Pod], None],
                self._client.watch(Pod, namespace=ALL_NS, fields=fields, server_timeout=60),
            )
            with contextlib.suppress(ApiError, TimeoutError):
                async with asyncio.timeout(70), contextlib.aclosing(events) as pods:
                    async for kind, pod in pods:
                        self._on_pod(kind, pod)

    def _on_pod(self, kind: str, pod: Pod) -> None:
        assert pod.metadata is not None
        uid = pod.metadata.uid or ""
        container = self._containers.get(uid)
        if kind == "DELETED":
            if container is not None and container.task is not None:
                container.task.cancel()  # removed for good: kill at once
            return
        if container is None:
            phase = pod.status.phase if pod.status else None
            if phase in ("Succeeded", "Failed"):
                return
            container = self._containers[uid] = _Container(pod)
            container.task = asyncio.create_task(self._run(container))
        if pod.metadata.deletionTimestamp is not None:
            container.pod = pod
            container.deleting.set()

    async def _run(self, container: _Container) -> None:
        pod = container.pod
        assert pod.metadata is not None and pod.spec is not None
        name, namespace = pod.metadata.name or "", pod.metadata.namespace or ""
        spec_container = pod.spec.containers[0]
        process: asyncio.subprocess.Process | None = None
        try:
            if container.deleting.is_set():
                await self._remove(name, namespace)
                return
            cogpak = self._images.get(spec_container.image or "")
            if cogpak is None:
                await self._waiting(
                    name,
                    namespace,
                    "ErrImagePull",
                    f'fake kubelet: no Cog-Pak for image "{spec_container.image}"',
                )
                await container.deleting.wait()
                await self._remove(name, namespace)
                return
            try:
                envelope = await self._envelope(pod)
                env = await self._environment(pod)
            except LookupError as exc:
                await self._waiting(name, namespace, "CreateContainerConfigError", str(exc))
                await container.deleting.wait()
                await self._remove(name, namespace)
                return
            argv = resolve_command(tuple(spec_container.args or ()), cogpak)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # a container log merges both streams
                cwd=cogpak,
                env=env,
                start_new_session=True,
            )
            self.started_pods.append(name)
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(envelope)
                await process.stdin.drain()
            process.stdin.close()
            started = _now()
            await self._status(name, namespace, self._running_status(pod, started))
            exit_code, reason, pod_reason = await self._follow(container, process)
            await self._status(
                name, namespace, self._ended_status(pod, started, exit_code, reason, pod_reason)
            )
            if container.deleting.is_set():
                await self._remove(name, namespace)
        except Exception:
            # A kubelet bug, not the agent's: say so, or the pod just stays as it was.
            logger.exception("fake kubelet: running pod %s/%s failed", namespace, name)
        finally:
            if process is not None and process.returncode is None:
                _kill(process.pid, signal.SIGKILL)
                await process.wait()
            await container.log.end()

    async def _follow(
        self, container: _Container, process: asyncio.subprocess.Process
    ) -> tuple[int, str, str | None]:
        """Run the agent until it exits, is deleted, runs out of memory or time.

        Returns ``(exit code, container reason, pod reason)``.
        """
        pod = container.pod
        assert pod.spec is not None
        pump = asyncio.create_task(self._pump(process, container.log))
        limit = _memory_limit(pod)
        deadline = pod.spec.activeDeadlineSeconds
        exited = asyncio.create_task(process.wait())
        deleting = asyncio.create_task(container.deleting.wait())
        oom = asyncio.create_task(_watch_memory(process.pid, limit))
        try:
            done, _ = await asyncio.wait(
                {exited, deleting, oom}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
            if oom in done:
                _kill(process.pid, signal.SIGKILL)
                await exited
                return 137, "OOMKilled", None
            if exited not in done:
                grace = (
                    container.pod.metadata.deletionGracePeriodSeconds
                    if deleting in done and container.pod.metadata
                    else None
                )
                _kill(process.pid, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(grace if grace is not None else 1):
                        await asyncio.shield(exited)
                _kill(process.pid, signal.SIGKILL)
                await exited
                if deleting not in done:
                    return _exit_code(process), "Error", "DeadlineExceeded"
            code = _exit_code(process)
            return code, "Completed" if code == 0 else "Error", None
        finally:
            for task in (deleting, oom):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await pump

    @staticmethod
    async def _pump(process: asyncio.subprocess.Process, log: _LogBuffer) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            await log.append(chunk)

    async def _envelope(self, pod: Pod) -> bytes:
        assert pod.spec is not None and pod.metadata is not None
        for volume in pod.spec.volumes or []:
            if volume.secret is not None and volume.secret.secretName:
                secret = await self._get(Secret, volume.secret.secretName, pod.metadata.namespace)
                data = secret.data or {}
                if ENVELOPE_KEY in data:
                    return base64.b64decode(data[ENVELOPE_KEY])
        return b""

    async def _environment(self, pod: Pod) -> dict[str, str]:
        """The host's environment (as an image's would be) plus the container's env."""
        assert pod.spec is not None and pod.metadata is not None
        env = dict(os.environ)
        for var in pod.spec.containers[0].env or []:
            if var.valueFrom is None:
                env[var.name] = var.value or ""
                continue
            ref = var.valueFrom.secretKeyRef or var.valueFrom.configMapKeyRef
            assert ref is not None and ref.name is not None
            if var.valueFrom.secretKeyRef is not None:
                secret = await self._get(Secret, ref.name, pod.metadata.namespace)
                raw = (secret.data or {}).get(ref.key)
                value = base64.b64decode(raw).decode() if raw is not None else None
            else:
                config_map = await self._get(ConfigMap, ref.name, pod.metadata.namespace)
                value = (config_map.data or {}).get(ref.key)
            if value is None:
                raise LookupError(f"couldn't find key {ref.key} in {ref.name}")
            env[var.name] = value
        return env

    async def _get(self, kind: Any, name: str, namespace: str | None) -> Any:
        try:
            return await self._client.get(kind, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                raise LookupError(f'{kind.__name__.lower()} "{name}" not found') from exc
            raise

    # --- status ---------------------------------------------------------------------------

    def _running_status(self, pod: Pod, started: str) -> dict[str, Any]:
        return {
            "phase": "Running",
            "startTime": started,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": started}
                for kind in ("PodScheduled", "Initialized", "Ready", "ContainersReady")
            ],
            "containerStatuses": [
                self._container_status(pod, {"running": {"startedAt": started}}, ready=True)
            ],
        }

    def _ended_status(
        self, pod: Pod, started: str, exit_code: int, reason: str, pod_reason: str | None
    ) -> dict[str, Any]:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": _now(),
            }
        }
        status: dict[str, Any] = {
            "phase": "Succeeded" if exit_code == 0 and pod_reason is None else "Failed",
            "containerStatuses": [self._container_status(pod, state, ready=False)],
        }
        if pod_reason == "DeadlineExceeded":
            status["reason"] = pod_reason
            status["message"] = "Pod was active on the node longer than the specified deadline"
        return status

    @staticmethod
    def _container_status(pod: Pod, state: dict[str, Any], *, ready: bool) -> dict[str, Any]:
        assert pod.spec is not None
        spec_container = pod.spec.containers[0]
        return {
            "name": spec_container.name,
            "image": spec_container.image,
            "imageID": "",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }

    async def _waiting(self, name: str, namespace: str, reason: str, message: str) -> None:
        pod = await self._client.get(Pod, name, namespace=namespace)
        state = {"waiting": {"reason": reason, "message": message}}
        await self._status(
            name,
            namespace,
            {
                "phase": "Pending",
                "containerStatuses": [self._container_status(pod, state, ready=False)],
            },
        )

    async def _status(self, name: str, namespace: str, status: dict[str, Any]) -> None:
        await _until_done(
            f"setting the status of pod {namespace}/{name}",
            lambda: self._client.patch(
                Pod.Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            ),
        )

    async def _remove(self, name: str, namespace: str) -> None:
        await _until_done(
            f"removing pod {namespace}/{name}",
            lambda: self._client.delete(Pod, name, namespace=namespace, grace_period=0),
        )

    # --- logs -----------------------------------------------------------------------------

    async def _serve_logs(self) -> int:
        cert, key = _self_signed_certificate(Path(self._tmp.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_log)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1])

    async def _container_log(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["pod"]
        container = next(
            (
                c
                for c in self._containers.values()
                if c.pod.metadata is not None
                and (c.pod.metadata.namespace, c.pod.metadata.name) == (namespace, name)
            ),
            None,
        )
        if container is None:
            raise web.HTTPNotFound(text=f"pod {namespace}/{name} is not on this node")
        follow = request.query.get("follow") == "true"
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        log, sent = container.log, 0
        while True:
            async with log.changed:
                if follow:

                    def more(sent: int = sent) -> bool:
                        return len(log.data) > sent or log.ended

                    await log.changed.wait_for(more)
                chunk, ended = bytes(log.data[sent:]), log.ended
            if chunk:
                await response.write(chunk)
                sent += len(chunk)
            if ended or not follow:
                break
        await response.write_eof()
        return response


def _memory_limit(pod: Pod) -> int | None:
    assert pod.spec is not None
    resources = pod.spec.containers[0].resources
    limits = (resources.limits or {}) if resources is not None else {}
    return _memory_bytes(limits["memory"]) if "memory" in limits else None


async def _watch_memory(pid: int, limit: int | None) -> None:
    """Returns when the process tree's resident memory exceeds ``limit`` (never if ``None``)."""
    if limit is None:
        await asyncio.Event().wait()
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        while True:
            rss = 0
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss += proc.memory_info().rss
            if limit is not None and rss > limit:
                return
            await asyncio.sleep(_MEMORY_POLL_SECONDS)
    await asyncio.Event().wait()  # the process is gone: it exited by itself


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _exit_code(process: asyncio.subprocess.Process) -> int:
    code = process.returncode
    assert code is not None
    return 128 - code if code < 0 else code  # death by signal N: 128 + N, as runtimes report


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "kubelet.crt", directory / "kubelet.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=fake-kubelet", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
