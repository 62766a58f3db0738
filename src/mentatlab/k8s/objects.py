"""Custom resource objects from MentatLab's models, and back.

An Agent object's spec is the manifest as its author wrote it (keys the model defaulted are
left out), a Flow object's spec the flow document without ``apiVersion``/``kind``. Converting
a model to an object and back gives an equal model. Object names follow
:mod:`mentatlab.k8s.naming`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mentatlab.k8s.naming import (
    ANNOTATION_FLOW_API_VERSION,
    API_VERSION,
    LABEL_FLOW,
    LABEL_FLOW_ID,
    agent_labels,
    agent_object_name,
    generate_name_prefix,
    label_value,
    object_name,
)
from mentatlab.model.flow import Flow
from mentatlab.model.kubernetes import KubernetesRunOptions
from mentatlab.model.manifest import AgentManifest

__all__ = [
    "FlowRunOptions",
    "FlowRunSpec",
    "InvalidResourceError",
    "agent_to_cr",
    "cr_to_flow",
    "cr_to_flowrun",
    "cr_to_manifest",
    "flow_to_cr",
    "flowrun_cr",
]

_HEADER: Final = ("apiVersion", "kind")
_FLOWRUN_FIELDS: Final = (("flow_ref", "flowRef"), ("flow", "flow"), ("inputs", "inputs"))
_ModelT = TypeVar("_ModelT", bound=BaseModel)


class InvalidResourceError(ValueError):
    """A custom resource object whose spec is not a valid MentatLab document."""


class FlowRunOptions(KubernetesRunOptions):
    """How a FlowRun's pods run: the FlowRun spec besides the flow and its inputs."""

    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, alias="ttlSecondsAfterFinished"
    )
    cancel: bool = False


class FlowRunSpec(BaseModel):
    """A FlowRun's spec, read: a Flow's name or an inline flow, inputs and options."""

    model_config = ConfigDict(frozen=True)

    flow_ref: str | None = None
    flow: Flow | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    options: FlowRunOptions = Field(default_factory=FlowRunOptions)

    @model_validator(mode="after")
    def _one_flow(self) -> FlowRunSpec:
        if (self.flow_ref is None) == (self.flow is None):
            raise ValueError("set exactly one of flowRef (a Flow's name) and flow (inline)")
        return self


def agent_to_cr(
    manifest: AgentManifest, *, name: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """The Agent object of ``manifest``; named ``ID-VERSION`` unless ``name`` is given."""
    spec = _without_header(manifest.model_dump(mode="json", by_alias=True, exclude_unset=True))
    # The schema requires pin lists that the model defaults (for manifests built in code).
    for key in ("inputs", "outputs"):
        spec.setdefault(key, [])
    labels = agent_labels(manifest.id, manifest.version)
    name = name or agent_object_name(manifest.id, manifest.version)
    return _object("Agent", _metadata(namespace, name=name, labels=labels), spec)


def cr_to_manifest(obj: Mapping[str, Any]) -> AgentManifest:
    """The manifest in an Agent object; :class:`InvalidResourceError` if it is not valid."""
    spec = _spec(obj, "Agent")
    return _parse(AgentManifest, {"apiVersion": API_VERSION, "kind": "Agent", **spec}, obj)


def flow_to_cr(
    flow: Flow, *, name: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """The Flow object of ``flow``; named after ``meta.id`` unless ``name`` is given."""
    labels = {LABEL_FLOW_ID: label_value(flow.meta.id)}
    metadata = _metadata(namespace, name=name or object_name(flow.meta.id), labels=labels)
    if flow.api_version != API_VERSION:
        metadata["annotations"] = {ANNOTATION_FLOW_API_VERSION: flow.api_version}
    return _object("Flow", metadata, _flow_spec(flow))


def cr_to_flow(obj: Mapping[str, Any]) -> Flow:
    """The flow in a Flow object; :class:`InvalidResourceError` if it is not valid."""
    spec = _spec(obj, "Flow")
    annotations = obj.get("metadata", {}).get("annotations") or {}
    api_version = annotations.get(ANNOTATION_FLOW_API_VERSION, API_VERSION)
    return _parse(Flow, {"apiVersion": api_version, "kind": "Flow", **spec}, obj)


def flowrun_cr(
    flow: str | Flow,
    inputs: Mapping[str, Any] | None = None,
    options: FlowRunOptions | None = None,
    *,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A FlowRun of the Flow object named ``flow``, or of an inline flow.

    Without ``name`` the object gets ``generateName: FLOW-`` and the API server completes it.
    ``inputs`` are by ``NODE.PIN``; ``options`` only contributes the options that were set.
    """
    if isinstance(flow, str):
        spec: dict[str, Any] = {"flowRef": flow}
        base, labels = flow, {LABEL_FLOW: label_value(flow)}
    else:
        spec = {"flow": _flow_spec(flow)}
        base, labels = object_name(flow.meta.id), {LABEL_FLOW_ID: label_value(flow.meta.id)}
    if inputs:
        spec["inputs"] = dict(inputs)
    if options is not None:
        spec.update(options.model_dump(mode="json", by_alias=True, exclude_unset=True))
    identity = {"name": name} if name else {"generateName": generate_name_prefix(base)}
    return _object("FlowRun", _metadata(namespace, **identity, labels=labels), spec)


def cr_to_flowrun(obj: Mapping[str, Any]) -> FlowRunSpec:
    """The spec of a FlowRun object; :class:`InvalidResourceError` if it is not valid."""
    options = dict(_spec(obj, "FlowRun"))
    fields = {key: options.pop(alias) for key, alias in _FLOWRUN_FIELDS if alias in options}
    if "flow" in fields:
        document = {"apiVersion": API_VERSION, "kind": "Flow", **fields["flow"]}
        fields["flow"] = _parse(Flow, document, obj, at="spec.flow")
    fields["options"] = _parse(FlowRunOptions, options, obj)
    return _parse(FlowRunSpec, fields, obj)


def _flow_spec(flow: Flow) -> dict[str, Any]:
    return _without_header(flow.model_dump(mode="json", by_alias=True, exclude_unset=True))


def _without_header(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in _HEADER}


def _metadata(namespace: str | None, **fields: Any) -> dict[str, Any]:
    return {**fields, "namespace": namespace} if namespace else fields


def _object(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _spec(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != kind:
        found = f"{obj.get('apiVersion')}/{obj.get('kind')}"
        raise InvalidResourceError(f"expected a {API_VERSION} {kind}, got {found}")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidResourceError(f"{_describe(obj)}: spec is missing")
    return spec


def _parse(
    model: type[_ModelT], data: Mapping[str, Any], obj: Mapping[str, Any], *, at: str = "spec"
) -> _ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, (at, *error['loc'])))}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidResourceError(f"{_describe(obj)}: {problems}") from None


def _describe(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    where = "/".join(filter(None, (metadata.get("namespace"), metadata.get("name"))))
    return f"{obj.get('kind')} {where or '(unnamed)'}"
