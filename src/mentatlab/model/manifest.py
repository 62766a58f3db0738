"""Agent manifest v1: the ``manifest.yaml`` of a Cog-Pak.

Mirrors ``schemas/agent-manifest.v1.schema.json``. Legacy manifests (no ``apiVersion``) are
normalised to this form by :mod:`mentatlab.validation` before they are parsed here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mentatlab.model.protocol import PROTOCOL_V1

__all__ = [
    "LEGACY_PROTOCOL",
    "MANIFEST_API_VERSION",
    "SEMVER_PATTERN",
    "AgentManifest",
    "AgentProtocol",
    "Backoff",
    "Capabilities",
    "EnvVar",
    "EnvVarSource",
    "KeyRef",
    "Pin",
    "PinType",
    "ResourceAmounts",
    "Resources",
    "RetryPolicy",
    "Scaling",
    "drop_extension_keys",
]

MANIFEST_API_VERSION: Final = "mentatlab.io/v1"
LEGACY_PROTOCOL: Final = "legacy"
"""``protocol`` of agents written for the original MentatLab contract (docs/compatibility.md)."""
AgentProtocol = Literal["mentatlab.agent/v1", "legacy"]
SEMVER_PATTERN: Final = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def drop_extension_keys(data: Any) -> Any:
    """Drop top-level ``x-`` keys: the schemas allow them for tools, and MentatLab ignores them."""
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if not str(key).startswith("x-")}
    return data


class PinType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"
    BINARY = "binary"
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    STREAM = "stream"


class Pin(_Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=128)
    type: PinType
    description: str | None = None
    required: bool | None = None
    default: Any = None
    metadata: dict[str, Any] | None = None

    @property
    def is_required(self) -> bool:
        """Inputs are required unless they say otherwise or carry a default."""
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


class ResourceAmounts(_Model):
    cpu: str | None = Field(default=None, pattern=r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
    memory: str | None = Field(
        default=None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
    )
    gpu: int | None = Field(default=None, ge=0)


class Resources(_Model):
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, alias="timeoutSeconds")
    heartbeat_timeout_seconds: float | None = Field(
        default=None, gt=0, alias="heartbeatTimeoutSeconds"
    )
    max_concurrent: int | None = Field(default=None, ge=1, alias="maxConcurrent")


class Backoff(_Model):
    initial_seconds: float = Field(default=1.0, ge=0, alias="initialSeconds")
    multiplier: float = Field(default=2.0, ge=1)
    max_seconds: float = Field(default=60.0, ge=0, alias="maxSeconds")
    jitter: float = Field(default=0.2, ge=0, le=1)


class RetryPolicy(_Model):
    limit: int = Field(default=0, ge=0, le=100)
    backoff: Backoff = Field(default_factory=Backoff)


class Scaling(_Model):
    min_replicas: int | None = Field(default=None, ge=0, alias="minReplicas")
    max_replicas: int | None = Field(default=None, ge=1, alias="maxReplicas")
    target_cpu_utilization_percentage: int | None = Field(
        default=None, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )


class Capabilities(_Model):
    actions: tuple[str, ...] = ()
    supports_progress: bool = False
    supports_heartbeat: bool = False
    gpu: bool = False
    network: bool = False
    storage: bool = False
    secrets: bool = False


class KeyRef(_Model):
    name: str = Field(min_length=1)
    key: str = Field(min_length=1)


class EnvVarSource(_Model):
    secret_key_ref: KeyRef | None = Field(default=None, alias="secretKeyRef")
    config_map_key_ref: KeyRef | None = Field(default=None, alias="configMapKeyRef")


class EnvVar(_Model):
    """An environment variable; ``KEY=VALUE`` strings are parsed into this form."""

    name: str = Field(min_length=1)
    value: str | None = None
    value_from: EnvVarSource | None = Field(default=None, alias="valueFrom")


class AgentManifest(_Model):
    api_version: Literal["mentatlab.io/v1"] = Field(
        default=MANIFEST_API_VERSION, alias="apiVersion"
    )
    kind: Literal["Agent"] = "Agent"
    id: str = Field(pattern=r"^[a-zA-Z0-9_.-]+$", min_length=1, max_length=253)
    version: str = Field(pattern=SEMVER_PATTERN)
    image: str | None = Field(default=None, min_length=1)
    runtime: str | None = None
    description: str
    command: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(
        default=None, min_length=1
    )
    protocol: AgentProtocol = PROTOCOL_V1
    inputs: tuple[Pin, ...] = ()
    outputs: tuple[Pin, ...] = ()
    long_running: bool = Field(default=False, alias="longRunning")
    resources: Resources = Field(default_factory=Resources)
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    scaling: Scaling | None = None
    capabilities: Capabilities = Field(default_factory=Capabilities)
    env: tuple[EnvVar | str, ...] = ()
    ui: dict[str, Any] | None = None

    _drop_extension_keys = model_validator(mode="before")(drop_extension_keys)

    def input_pin(self, name: str) -> Pin | None:
        return next((pin for pin in self.inputs if pin.name == name), None)

    def output_pin(self, name: str) -> Pin | None:
        return next((pin for pin in self.outputs if pin.name == name), None)

    @property
    def ref(self) -> str:
        """``id@version``: how runs and events name this agent."""
        return f"{self.id}@{self.version}"
