"""What one attempt looks like in Kubernetes: a bare Pod and the Secret holding its input.

Pure functions of an :class:`AttemptSpec` and the :class:`PodOptions` the operator passes for
a FlowRun: no API calls here, so every field is unit-tested. ``docs/kubernetes-driver.md``
explains each choice.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from lightkube.models.core_v1 import (
    Affinity,
    Capabilities,
    ConfigMapKeySelector,
    Container,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    PodSecurityContext,
    PodSpec,
    ResourceRequirements,
    SeccompProfile,
    SecretKeySelector,
    SecretVolumeSource,
    SecurityContext,
    Toleration,
    Volume,
    VolumeMount,
)
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Pod, Secret

from mentatlab.engine.drivers.attempt import (
    envelope_bytes,
    input_environment,
    protocol_environment,
)
from mentatlab.engine.drivers.base import AttemptSpec
from mentatlab.engine.drivers.kubernetes.names import label_value
from mentatlab.model.manifest import AgentManifest, ResourceAmounts
from mentatlab.model.manifest import EnvVar as ManifestEnvVar
from mentatlab.validation.quantities import cpu_cores, memory_bytes

__all__ = [
    "AGENT_CONTAINER",
    "DEFAULT_LIMITS",
    "DEFAULT_REQUESTS",
    "ENVELOPE_KEY",
    "ENVELOPE_PATH",
    "GPU_RESOURCE",
    "INPUT_DIR",
    "LABEL_AGENT",
    "LABEL_ATTEMPT",
    "LABEL_FLOWRUN",
    "LABEL_NODE",
    "NODE_INSTANCE_ANNOTATION",
    "NONROOT_USER",
    "RUN_ID_ANNOTATION",
    "SHELL_WRAPPER",
    "AgentLookup",
    "Owner",
    "PodGcPolicy",
    "PodOptions",
    "attempt_name",
    "build_pod",
    "build_secret",
    "container_command",
    "label_value",
    "manifest_env",
    "pod_labels",
    "resource_requirements",
    "restricted_pod_security_context",
    "restricted_security_context",
]

AGENT_CONTAINER = "agent"
INPUT_DIR = "/var/run/mentatlab/input"
ENVELOPE_KEY = "envelope.json"
ENVELOPE_PATH = f"{INPUT_DIR}/{ENVELOPE_KEY}"
SHELL_WRAPPER = f'exec "$@" < {ENVELOPE_PATH}'
"""Feeds the envelope file to the agent's stdin, then becomes the agent (``exec``): the agent
is the container's main process and sees EOF after the envelope, as protocol v1 promises."""
GPU_RESOURCE = "nvidia.com/gpu"

LABEL_FLOWRUN = "mentatlab.io/flowrun"
LABEL_NODE = "mentatlab.io/node"
LABEL_AGENT = "mentatlab.io/agent"
LABEL_ATTEMPT = "mentatlab.io/attempt"
NODE_INSTANCE_ANNOTATION = "mentatlab.io/node-instance"
"""The exact node instance (``process[3]``); the label holds a label-safe form of it."""
RUN_ID_ANNOTATION = "mentatlab.io/run-id"
AGENT_REF_ANNOTATION = "mentatlab.io/agent-ref"

_NAME_MAX = 63
_HASH_CHARS = 8
NONROOT_USER = 65532
"""The conventional unprivileged user of distroless and Chainguard images."""
DEFAULT_REQUESTS: Mapping[str, str] = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMITS: Mapping[str, str] = {"memory": "512Mi"}
"""Used per resource when the agent's manifest names none."""

AgentLookup = Callable[[str, str], AgentManifest | None]
"""Agent id and version → its manifest (resources and ``valueFrom`` env live only there)."""


class PodGcPolicy(StrEnum):
    DELETE = "delete"
    """Delete the pod once its attempt has ended (its outcome is in the run record)."""
    KEEP = "keep"
    """Keep finished pods for inspection; they go when the FlowRun is deleted."""


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The object owning every pod and Secret of a run (the FlowRun): deleting it deletes them."""

    api_version: str
    kind: str
    name: str
    uid: str


@dataclass(frozen=True, kw_only=True)
class PodOptions:
    """Per-FlowRun settings of the pods the Kubernetes driver creates."""

    owner: Owner
    flowrun: str
    service_account: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    affinity: Affinity | None = None
    priority_class: str | None = None
    image_pull_policy: str | None = None
    """``Always``, ``IfNotPresent`` or ``Never``; ``None`` leaves Kubernetes' default."""
    default_requests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REQUESTS))
    default_limits: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    gc: PodGcPolicy = PodGcPolicy.DELETE
    labels: Mapping[str, str] = field(default_factory=dict)
    """Added to every pod; MentatLab's own labels win on a clash."""
    run_as_user: int | None = NONROOT_USER
    """``None`` runs as the image's ``USER`` (which must then be numeric and not root)."""
    agents: AgentLookup | None = None
    """Resolves an attempt's manifest for its resources and ``valueFrom`` env."""


def attempt_name(options: PodOptions, node_id: str, attempt: int) -> str:
    """The name of an attempt's pod and Secret: deterministic, DNS-1123, at most 63 characters.

    Readable parts (FlowRun, node instance, attempt) plus a hash of the exact values and the
    owner's uid, so ``process[3]`` and ``process-3`` never collide, and a FlowRun deleted and
    created again under the same name never meets the pods of its predecessor.
    """
    exact = f"{options.owner.uid}\0{options.flowrun}\0{node_id}\0{attempt}"
    digest = hashlib.sha256(exact.encode()).hexdigest()[:_HASH_CHARS]
    suffix = f"-{attempt}-{digest}"
    head = "-".join(part for part in (_dns(options.flowrun), _dns(node_id)) if part)
    head = head[: _NAME_MAX - len(suffix)].strip("-") or "mentatlab"
    return head + suffix


def pod_labels(spec: AttemptSpec, options: PodOptions) -> dict[str, str]:
    labels = dict(options.labels)
    labels.update(
        {
            "app.kubernetes.io/name": "mentatlab-agent",
            "app.kubernetes.io/instance": label_value(options.flowrun),
            "app.kubernetes.io/component": "node",
            "app.kubernetes.io/managed-by": "mentatlab-operator",
            LABEL_FLOWRUN: label_value(options.flowrun),
            LABEL_NODE: label_value(spec.node_id),
            LABEL_AGENT: label_value(spec.agent_id),
            LABEL_ATTEMPT: str(spec.attempt),
        }
    )
    return labels


def container_command(command: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(command, args)`` of the agent container: the shell wrapper, then the agent's argv.

    The argv travels as separate arguments (``"$@"``), never spliced into the script, so no
    value is ever interpreted by the shell.
    """
    return ["/bin/sh", "-c", SHELL_WRAPPER, "sh"], list(command)


def build_secret(spec: AttemptSpec, options: PodOptions, *, name: str, namespace: str) -> Secret:
    """The immutable Secret carrying the attempt's input envelope (inputs may be sensitive),
    and a legacy agent's ``INPUT_SPEC``/``INPUT_CONTEXT``, which its env refers to."""
    data = {ENVELOPE_KEY: envelope_bytes(spec)}
    data.update((key, value.encode()) for key, value in input_environment(spec).items())
    return Secret(
        metadata=_metadata(spec, options, name=name, namespace=namespace),
        type="Opaque",
        immutable=True,
        data={key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    )


def build_pod(
    spec: AttemptSpec,
    options: PodOptions,
    *,
    name: str,
    namespace: str,
    manifest: AgentManifest | None,
) -> Pod:
    """The bare pod running the attempt. ``spec.image`` must be set."""
    command, args = container_command(spec.command)
    limits = spec.limits
    container = Container(
        name=AGENT_CONTAINER,
        image=spec.image,
        imagePullPolicy=options.image_pull_policy,
        command=command,
        args=args,
        env=_env(spec, manifest, secret=name),
        resources=resource_requirements(
            manifest,
            default_requests=options.default_requests,
            default_limits=options.default_limits,
            memory_bytes=spec.limits.memory_bytes,
        ),
        securityContext=restricted_security_context(),
        volumeMounts=[
            VolumeMount(name="input", mountPath=INPUT_DIR, readOnly=True),
            VolumeMount(name="tmp", mountPath="/tmp"),  # noqa: S108 - the pod's own emptyDir
        ],
        # The kubelet would copy the log tail into the pod's status, out of reach of the
        # engine's redaction: an agent holding secrets gets no such copy.
        terminationMessagePolicy="File" if spec.secrets else "FallbackToLogsOnError",
    )
    return Pod(
        metadata=_metadata(spec, options, name=name, namespace=namespace),
        spec=PodSpec(
            containers=[container],
            restartPolicy="Never",
            # Agents talk to MentatLab through stdin/stdout, never to the Kubernetes API.
            automountServiceAccountToken=False,
            enableServiceLinks=False,
            serviceAccountName=options.service_account,
            nodeSelector=dict(options.node_selector) or None,
            tolerations=list(options.tolerations) or None,
            affinity=options.affinity,
            priorityClassName=options.priority_class,
            activeDeadlineSeconds=(
                math.ceil(limits.timeout_seconds) if limits.timeout_seconds is not None else None
            ),
            terminationGracePeriodSeconds=math.ceil(limits.kill_grace_seconds),
            securityContext=restricted_pod_security_context(options.run_as_user),
            volumes=[
                Volume(
                    name="input",
                    secret=SecretVolumeSource(secretName=name, defaultMode=0o440),
                ),
                Volume(name="tmp", emptyDir=EmptyDirVolumeSource()),
            ],
        ),
    )


def _metadata(spec: AttemptSpec, options: PodOptions, *, name: str, namespace: str) -> ObjectMeta:
    owner = options.owner
    return ObjectMeta(
        name=name,
        namespace=namespace,
        labels=pod_labels(spec, options),
        annotations={
            NODE_INSTANCE_ANNOTATION: spec.node_id,
            RUN_ID_ANNOTATION: spec.run_id,
            AGENT_REF_ANNOTATION: f"{spec.agent_id}@{spec.agent_version}",
        },
        ownerReferences=[
            OwnerReference(
                apiVersion=owner.api_version,
                kind=owner.kind,
                name=owner.name,
                uid=owner.uid,
                controller=True,
                blockOwnerDeletion=True,
            )
        ],
    )


def _env(spec: AttemptSpec, manifest: AgentManifest | None, *, secret: str) -> list[EnvVar]:
    """Literal env, then the manifest's ``valueFrom`` references, then ``MENTAT_*`` and the
    input variables (read from the attempt's Secret), which win."""
    env = _base_env()
    env.update((key, EnvVar(name=key, value=value)) for key, value in spec.env.items())
    if manifest is not None:
        env.update((var.name, var) for var in manifest_env(manifest) if var.valueFrom is not None)
    env.update(
        (key, EnvVar(name=key, value=value)) for key, value in protocol_environment(spec).items()
    )
    env.update(
        (
            key,
            EnvVar(
                name=key,
                valueFrom=EnvVarSource(secretKeyRef=SecretKeySelector(name=secret, key=key)),
            ),
        )
        for key in input_environment(spec)
    )
    return list(env.values())


def _base_env() -> dict[str, EnvVar]:
    return {
        "PYTHONUNBUFFERED": EnvVar(name="PYTHONUNBUFFERED", value="1"),
        "HOME": EnvVar(name="HOME", value="/tmp"),  # noqa: S108 - the root filesystem is read-only
    }


def manifest_env(manifest: AgentManifest) -> list[EnvVar]:
    """The manifest's ``env`` as container variables: literals (``KEY=VALUE`` strings too)
    and ``valueFrom`` references, which Kubernetes resolves in the pod."""
    env = _base_env()
    for entry in manifest.env:
        if isinstance(entry, str):
            name, _, value = entry.partition("=")
            env[name] = EnvVar(name=name, value=value)
        elif entry.value_from is not None:
            env[entry.name] = _env_reference(entry)
        else:
            env[entry.name] = EnvVar(name=entry.name, value=entry.value or "")
    return list(env.values())


def _env_reference(entry: ManifestEnvVar) -> EnvVar:
    source = entry.value_from
    assert source is not None  # noqa: S101 - checked by the caller
    secret, config_map = source.secret_key_ref, source.config_map_key_ref
    return EnvVar(
        name=entry.name,
        valueFrom=EnvVarSource(
            secretKeyRef=SecretKeySelector(name=secret.name, key=secret.key) if secret else None,
            configMapKeyRef=(
                ConfigMapKeySelector(name=config_map.name, key=config_map.key)
                if config_map
                else None
            ),
        ),
    )


def restricted_security_context() -> SecurityContext:
    """The agent container's part of the pod-security "restricted" profile."""
    return SecurityContext(
        allowPrivilegeEscalation=False,
        readOnlyRootFilesystem=True,
        runAsNonRoot=True,
        capabilities=Capabilities(drop=["ALL"]),
    )


def restricted_pod_security_context(user: int | None) -> PodSecurityContext:
    """The pod's part of the "restricted" profile; ``user`` None keeps the image's ``USER``."""
    return PodSecurityContext(
        runAsNonRoot=True,
        runAsUser=user,
        runAsGroup=user,
        fsGroup=user,  # makes group-readable mounted files (the envelope) readable by the agent
        seccompProfile=SeccompProfile(type="RuntimeDefault"),
    )


def resource_requirements(
    manifest: AgentManifest | None,
    *,
    default_requests: Mapping[str, str],
    default_limits: Mapping[str, str],
    memory_bytes: int | None,
) -> ResourceRequirements:
    """The manifest's requests and limits, defaults for what it leaves out, GPUs as
    ``nvidia.com/gpu``. ``memory_bytes`` is the memory limit when the manifest sets none."""
    wanted = manifest.resources if manifest is not None else None
    given_requests = wanted.requests if wanted is not None else None
    given_limits = wanted.limits if wanted is not None else None
    requests = _amounts(given_requests, default_requests)
    limits = _amounts(given_limits, default_limits)
    if (given_limits is None or given_limits.memory is None) and memory_bytes:
        limits["memory"] = str(memory_bytes)
    for key, request in list(requests.items()):
        # A default request above the agent's own limit would make the API reject the pod.
        if key in limits and _quantity(key, request) > _quantity(key, limits[key]):
            requests[key] = limits[key]
    gpus = max(
        (amounts.gpu or 0 for amounts in (given_requests, given_limits) if amounts), default=0
    )
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)  # extended resources are set as limits only
    return ResourceRequirements(requests=requests or None, limits=limits or None)


def _quantity(key: str, amount: str) -> Decimal:
    parsed = cpu_cores(amount) if key == "cpu" else memory_bytes(amount)
    return parsed if parsed is not None else Decimal(0)


def _amounts(given: ResourceAmounts | None, defaults: Mapping[str, str]) -> dict[str, str]:
    amounts = dict(defaults)
    if given is not None:
        if given.cpu is not None:
            amounts["cpu"] = given.cpu
        if given.memory is not None:
            amounts["memory"] = given.memory
    return amounts


def _dns(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
