"""Security policy v1: what agents, flows and their pods may do.

Mirrors ``schemas/policy.v1.schema.json``; ``docs/policy.md`` describes every rule. Every field
defaults to the value of the default policy MentatLab ships, so a policy file only states
where it differs (``tests/validation`` holds the two together).
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mentatlab.model.manifest import AgentManifest, ResourceAmounts, drop_extension_keys

__all__ = [
    "CAPABILITY_NAMES",
    "POLICY_API_VERSION",
    "CapabilityRules",
    "ImageRules",
    "PodSecurityProfile",
    "PodSecurityRules",
    "Policy",
    "PolicyMetadata",
    "ResourceName",
    "ResourceRules",
    "SecretGrant",
    "SecretRules",
    "SignatureRules",
]

POLICY_API_VERSION: Final = "mentatlab.io/v1"
CAPABILITY_NAMES: Final = ("network", "secrets", "gpu", "storage")
"""The capabilities a policy governs (the others only describe an agent's protocol use)."""

ResourceName = Literal["cpu", "memory", "gpu"]
CapabilityName = Literal["network", "secrets", "gpu", "storage"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class PodSecurityProfile(StrEnum):
    """The Kubernetes Pod Security Standards, from the strictest."""

    RESTRICTED = "restricted"
    BASELINE = "baseline"
    PRIVILEGED = "privileged"


class PolicyMetadata(_Model):
    name: str = Field(default="default", min_length=1, max_length=253)
    description: str | None = None


class ImageRules(_Model):
    allowed_registries: tuple[str, ...] = Field(default=(), alias="allowedRegistries")
    """Registries or repository prefixes; empty allows any."""
    require_digest: bool = Field(default=False, alias="requireDigest")
    forbid_latest: bool = Field(default=False, alias="forbidLatest")


def _default_maxima() -> ResourceAmounts:
    return ResourceAmounts(cpu="16", memory="64Gi", gpu=8)


class ResourceRules(_Model):
    require_limits: tuple[ResourceName, ...] = Field(default=(), alias="requireLimits")
    max_limits: ResourceAmounts = Field(default_factory=_default_maxima, alias="maxLimits")


class CapabilityRules(_Model):
    allowed: tuple[CapabilityName, ...] = CAPABILITY_NAMES


class SecretGrant(_Model):
    agents: tuple[str, ...]
    secrets: tuple[str, ...]

    def allows(self, agent_id: str, secret: str) -> bool:
        return _matches(agent_id, self.agents) and _matches(secret, self.secrets)


class SecretRules(_Model):
    grants: tuple[SecretGrant, ...] = (SecretGrant(agents=("*",), secrets=("*",)),)


class PodSecurityRules(_Model):
    profile: PodSecurityProfile = PodSecurityProfile.RESTRICTED
    allowed_service_accounts: tuple[str, ...] = Field(
        default=("*",), alias="allowedServiceAccounts"
    )

    def allows_service_account(self, name: str | None) -> bool:
        # No name means the namespace's default account, which every pod may use.
        return name is None or _matches(name, self.allowed_service_accounts)


class SignatureRules(_Model):
    required: bool = False
    trust_dir: Path | None = Field(default=None, alias="trustDir")

    @model_validator(mode="after")
    def _trust_dir_when_required(self) -> SignatureRules:
        if self.required and self.trust_dir is None:
            raise ValueError("signatures.required needs signatures.trustDir")
        return self


class Policy(_Model):
    api_version: Literal["mentatlab.io/v1"] = Field(default=POLICY_API_VERSION, alias="apiVersion")
    kind: Literal["Policy"] = "Policy"
    metadata: PolicyMetadata = Field(default_factory=PolicyMetadata)
    images: ImageRules = Field(default_factory=ImageRules)
    resources: ResourceRules = Field(default_factory=ResourceRules)
    capabilities: CapabilityRules = Field(default_factory=CapabilityRules)
    secrets: SecretRules = Field(default_factory=SecretRules)
    pod_security: PodSecurityRules = Field(default_factory=PodSecurityRules, alias="podSecurity")
    signatures: SignatureRules = Field(default_factory=SignatureRules)

    _drop_extension_keys = model_validator(mode="before")(drop_extension_keys)

    @property
    def name(self) -> str:
        return self.metadata.name

    def allows_secret(self, agent: AgentManifest, secret: str) -> bool:
        """Whether an agent may receive a secret (``runConfig.secrets``, ``secretKeyRef``).

        Shaped as the engine's secret policy: validation refuses a flow sending a secret to
        an agent not granted it, and the engine withholds it too.
        """
        return any(grant.allows(agent.id, secret) for grant in self.secrets.grants)


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    # Case-sensitive: agent ids, secret names and account names all are.
    return any(fnmatchcase(value, pattern) for pattern in patterns)
