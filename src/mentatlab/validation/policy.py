"""The security policy: reading a policy file, and its rules on agents and flows.

Policy rules (``policy.*``) are errors in every validation mode: ``permissive`` relaxes the
authoring rules, never what the platform's owner enforces. They are checked only on documents
that are otherwise valid, so a problem is reported once, by the most precise rule. Pods are
checked by :mod:`mentatlab.validation.pod_security`. ``docs/policy.md`` lists every rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mentatlab.model.flow import Flow
from mentatlab.model.manifest import AgentManifest, EnvVar
from mentatlab.model.policy import CAPABILITY_NAMES, Policy
from mentatlab.validation.findings import Finding, Mode, UsageError
from mentatlab.validation.loading import MANIFEST_FILENAMES, read_document
from mentatlab.validation.quantities import RESOURCES, resource_amount
from mentatlab.validation.reporter import Reporter
from mentatlab.validation.rules import Rule
from mentatlab.validation.schema import SchemaKind

if TYPE_CHECKING:  # the catalog validates manifests, which check the policy: no cycle at runtime
    from mentatlab.validation.catalog import AgentCatalog, ResolvedAgent

__all__ = [
    "POLICY_ENV",
    "POLICY_RULES",
    "PolicyError",
    "Violation",
    "check_flow_policy",
    "check_manifest_policy",
    "cogpak_directory",
    "default_policy",
    "is_policy_rule",
    "load_policy",
    "manifest_violations",
    "policy_in_force",
]

POLICY_ENV: Final = "MENTATLAB_POLICY"
"""The policy file every command enforces when no ``--policy`` is given."""

# Not in rules.RULES, so severity_of makes them errors in every mode.
POLICY_RULES: Final = (
    Rule("policy.image-registry", "Images come from an allowed registry."),
    Rule("policy.image-digest", "Images are pinned by digest."),
    Rule("policy.image-latest", "Images do not use the 'latest' tag."),
    Rule("policy.resources-required", "Agents declare the limits the policy requires."),
    Rule("policy.resources-maximum", "No request or limit is above the policy's maximum."),
    Rule("policy.capability", "Agents declare only allowed capabilities."),
    Rule("policy.secret-access", "Agents receive only the secrets granted to them."),
    Rule("policy.signature", "Agents are Cog-Paks signed by a trusted key."),
    Rule("policy.pod-security", "Pods meet the policy's Pod Security Standard."),
    Rule("policy.service-account", "Pods run as an allowed service account."),
)
_PREFIX: Final = "policy."
_DEFAULT_RESOURCE: Final = ("mentatlab", "policies", "default.policy.yaml")
_DIGEST: Final = re.compile(r"@sha256:[0-9a-f]{64}$")
_DOCKER_HUB: Final = "docker.io"


def is_policy_rule(rule: str) -> bool:
    return rule.startswith(_PREFIX)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken policy rule: ``path`` is the field in the object that was checked."""

    path: str
    rule: str
    message: str


class PolicyError(UsageError):
    """The selected policy file is missing or invalid; ``findings`` say where."""

    def __init__(self, message: str, findings: list[Finding]) -> None:
        super().__init__(message)
        self.findings = findings


# --- the policy in force ----------------------------------------------------------------


@cache
def default_policy() -> Policy:
    """The policy MentatLab ships (``policies/default.policy.yaml`` in the package)."""
    package, *parts = _DEFAULT_RESOURCE
    with resources.as_file(resources.files(package).joinpath(*parts)) as path:
        return policy_in_force(path)


def load_policy(path: Path) -> tuple[Policy | None, list[Finding]]:
    """Read and check a policy file; ``None`` and located findings if it is invalid.

    A relative ``signatures.trustDir`` is taken relative to the file. Raises
    :class:`UsageError` if ``path`` does not exist.
    """
    document, findings = read_document(path)
    if document is None:
        return None, findings
    report = Reporter(document, Mode.STRICT)
    report.extend(findings)
    policy = report.parse(SchemaKind.POLICY, document.data, Policy)
    if policy is None:
        return None, report.findings
    trust_dir = policy.signatures.trust_dir
    if trust_dir is not None:
        trust_dir = (path.parent / trust_dir).resolve()
        if not trust_dir.is_dir():
            message = f"trust directory {str(trust_dir)!r} does not exist"
            report.add("$.signatures.trustDir", "policy.trust-dir", message)
            return None, report.findings
        signatures = policy.signatures.model_copy(update={"trust_dir": trust_dir})
        policy = policy.model_copy(update={"signatures": signatures})
    return policy, report.findings


def policy_in_force(path: Path | None) -> Policy:
    """The policy file at ``path``, or the default policy when ``path`` is ``None``.

    Raises :class:`PolicyError` (a :class:`UsageError`) naming every problem of the file.
    """
    if path is None:
        return default_policy()
    policy, findings = load_policy(path)
    if policy is None:
        lines = "\n".join(str(finding) for finding in findings)
        raise PolicyError(f"policy {path} is invalid:\n{lines}", findings)
    return policy


# --- rules on agents and flows ----------------------------------------------------------


def cogpak_directory(manifest_path: Path) -> Path | None:
    """The Cog-Pak directory whose signature covers a manifest, if it has one.

    A ``*.manifest.yaml`` beside other files, or an agent registered without files (an
    ``Agent`` resource, a request body), has no directory of its own to verify.
    """
    if manifest_path.name in MANIFEST_FILENAMES and manifest_path.is_file():
        return manifest_path.parent
    return None


def check_manifest_policy(
    manifest: AgentManifest, policy: Policy, report: Reporter, cogpak: Path | None
) -> None:
    """Report the policy violations of an agent manifest at its fields."""
    for violation in manifest_violations(manifest, policy, cogpak=cogpak):
        message = f"agent {manifest.ref!r}: {violation.message} (policy {policy.name!r})"
        report.add(violation.path, violation.rule, message)


def check_flow_policy(flow: Flow, catalog: AgentCatalog, policy: Policy, report: Reporter) -> None:
    """Report the policy violations of the agents a flow starts and of the secrets it sends.

    Violations of an agent are located at the node that uses it, naming the agent's field.
    """
    agents: list[tuple[str, ResolvedAgent]] = []
    for position, node in enumerate(flow.graph.nodes):
        if node.agent_ref is None or node.outputs is not None:
            continue  # built-ins and pinned nodes start no agent
        try:
            agent = catalog.resolve(node.type)
        except LookupError:  # an AgentResolutionError, reported by flow.agent-ref
            continue
        agents.append((node.id, agent))
        manifest = agent.manifest
        violations = manifest_violations(
            manifest, policy, cogpak=cogpak_directory(agent.manifest_path)
        )
        for violation in violations:
            message = (
                f"agent {manifest.ref!r} of node {node.id!r}, at {violation.path}: "
                f"{violation.message} (policy {policy.name!r})"
            )
            report.add(f"$.graph.nodes[{position}].type", violation.rule, message)
    for index, secret in enumerate(flow.run_config.secrets):
        for node_id, agent in agents:
            manifest = agent.manifest
            if manifest.capabilities.secrets and not policy.allows_secret(manifest, secret):
                message = (
                    f"secret {secret!r} would reach node {node_id!r} (agent {manifest.ref!r}, "
                    f"which declares the 'secrets' capability); policy {policy.name!r} does "
                    "not grant it to that agent"
                )
                report.add(f"$.runConfig.secrets[{index}]", "policy.secret-access", message)


def manifest_violations(
    manifest: AgentManifest, policy: Policy, *, cogpak: Path | None
) -> list[Violation]:
    """Every rule of ``policy`` that ``manifest`` breaks; ``cogpak`` is its directory, if any."""
    return [
        *_image_violations(manifest.image, policy),
        *_resource_violations(manifest, policy),
        *_capability_violations(manifest, policy),
        *_secret_violations(manifest, policy),
        *_signature_violations(cogpak, policy),
    ]


def _image_violations(image: str | None, policy: Policy) -> list[Violation]:
    # Local agents have no image: image rules only concern what a cluster would pull.
    if image is None:
        return []
    rules, found = policy.images, []
    repository, tag, digest = _split_image(image)
    allowed = rules.allowed_registries
    if allowed and not any(repository == p or repository.startswith(p + "/") for p in allowed):
        message = f"image {image!r} is not from an allowed registry (allowed: {', '.join(allowed)})"
        found.append(Violation("$.image", "policy.image-registry", message))
    if rules.require_digest and (digest is None or not _DIGEST.search(image)):
        message = f"image {image!r} is not pinned by digest; use NAME@sha256:DIGEST"
        found.append(Violation("$.image", "policy.image-digest", message))
    if rules.forbid_latest and digest is None and tag in (None, "latest"):
        what = "has no tag, which means 'latest'" if tag is None else "uses the 'latest' tag"
        message = f"image {image!r} {what}; use a version tag or a digest"
        found.append(Violation("$.image", "policy.image-latest", message))
    return found


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """``(registry/repository, tag, digest)``, with Docker Hub's implicit registry spelled out."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, _, tag = name.rpartition(":")
    first, _, rest = name.partition("/")
    if not rest:
        name = f"{_DOCKER_HUB}/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"{_DOCKER_HUB}/{name}"
    return name, tag, digest or None


def _resource_violations(manifest: AgentManifest, policy: Policy) -> list[Violation]:
    declared, rules, found = manifest.resources, policy.resources, []
    for name in rules.require_limits:
        if declared.limits is None or getattr(declared.limits, name) is None:
            message = f"declares no {name} limit, which the policy requires"
            found.append(
                Violation(f"$.resources.limits.{name}", "policy.resources-required", message)
            )
    for side, amounts in (("requests", declared.requests), ("limits", declared.limits)):
        for name in RESOURCES:
            value = None if amounts is None else getattr(amounts, name)
            maximum = getattr(rules.max_limits, name)
            if value is None or maximum is None:
                continue
            amount, most = resource_amount(name, value), resource_amount(name, maximum)
            if amount is not None and most is not None and amount > most:
                message = f"{name} {side[:-1]} {value} is above the policy's maximum {maximum}"
                found.append(
                    Violation(f"$.resources.{side}.{name}", "policy.resources-maximum", message)
                )
    return found


def _capability_violations(manifest: AgentManifest, policy: Policy) -> list[Violation]:
    allowed = policy.capabilities.allowed
    return [
        Violation(
            f"$.capabilities.{name}",
            "policy.capability",
            f"declares the {name!r} capability, which the policy does not allow "
            f"(allowed: {', '.join(allowed) or 'none'})",
        )
        for name in CAPABILITY_NAMES
        if getattr(manifest.capabilities, name) and name not in allowed
    ]


def _secret_violations(manifest: AgentManifest, policy: Policy) -> list[Violation]:
    found = []
    for index, entry in enumerate(manifest.env):
        source = entry.value_from if isinstance(entry, EnvVar) else None
        ref = source.secret_key_ref if source is not None else None
        if ref is not None and not policy.allows_secret(manifest, ref.name):
            message = f"reads Secret {ref.name!r}, which the policy does not grant this agent"
            path = f"$.env[{index}].valueFrom.secretKeyRef.name"
            found.append(Violation(path, "policy.secret-access", message))
    return found


def _signature_violations(cogpak: Path | None, policy: Policy) -> list[Violation]:
    rules = policy.signatures
    if not rules.required or rules.trust_dir is None:
        return []
    if cogpak is None:
        message = (
            "signatures are required, and this agent is not a Cog-Pak directory whose "
            "signature can be checked"
        )
        return [Violation("$", "policy.signature", message)]
    # Imported when signatures are required only: verifying loads the cryptography library.
    from mentatlab.validation.signing import verify_cogpak

    check = verify_cogpak(cogpak, rules.trust_dir)
    if check.ok:
        return []
    return [Violation("$", "policy.signature", f"Cog-Pak {str(cogpak)!r}: {check.message}")]
