"""API group, object names and labels of MentatLab's Kubernetes objects.

Kubernetes object names are DNS-1123 subdomains (lowercase letters, digits, ``-`` and ``.``,
at most 253 characters, alphanumeric at both ends of every dot-separated part) and label
values are at most 63 characters of ``[A-Za-z0-9._-]``. Agent ids, versions and flow ids
allow more than that, so they are encoded: a text that is already valid is used as it is
(``mentatlab.echo-1.0.0``); anything else is lowercased/sanitised and gets an 8-hex-digit
hash of the original appended, so two different texts never share a name. The spec always
holds the original id and version; names and labels are handles for ``kubectl`` and for
label selectors.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = [
    "ANNOTATION_FLOW_API_VERSION",
    "API_VERSION",
    "COMMON_LABELS",
    "GROUP",
    "LABEL_AGENT_ID",
    "LABEL_AGENT_VERSION",
    "LABEL_FLOW",
    "LABEL_FLOW_ID",
    "SYSTEM_NAMESPACE",
    "VERSION",
    "agent_labels",
    "agent_object_name",
    "generate_name_prefix",
    "label_value",
    "object_name",
]

GROUP: Final = "mentatlab.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
SYSTEM_NAMESPACE: Final = "mentatlab-system"
COMMON_LABELS: Final = {"app.kubernetes.io/part-of": "mentatlab"}
"""On every object of MentatLab's installation (CRDs, operator), for ``kubectl get -l``."""

LABEL_AGENT_ID: Final = "mentatlab.io/agent-id"
LABEL_AGENT_VERSION: Final = "mentatlab.io/agent-version"
LABEL_FLOW_ID: Final = "mentatlab.io/flow-id"
LABEL_FLOW: Final = "mentatlab.io/flow"
"""On a FlowRun: the name of the Flow object it runs (``spec.flowRef``)."""
ANNOTATION_FLOW_API_VERSION: Final = "mentatlab.io/flow-api-version"
"""On a Flow: the document's original ``apiVersion`` when it was not ``mentatlab.io/v1``."""

_MAX_NAME: Final = 253
_MAX_LABEL: Final = 63
# The API server cuts generateName to 58 characters and appends 5 random ones.
_MAX_GENERATE_NAME: Final = 58
_HASH_LENGTH: Final = 8
_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def object_name(text: str) -> str:
    """``text`` as a Kubernetes object name (DNS-1123 subdomain), encoded only if it must be."""
    if len(text) <= _MAX_NAME and _SUBDOMAIN.match(text):
        return text
    parts = (re.sub(r"[^a-z0-9-]+", "-", part).strip("-") for part in text.lower().split("."))
    base = ".".join(part for part in parts if part)
    return _with_hash(base, text, _MAX_NAME)


def label_value(text: str) -> str:
    """``text`` as a label value, encoded only if it must be."""
    if len(text) <= _MAX_LABEL and _LABEL_VALUE.match(text):
        return text
    return _with_hash(re.sub(r"[^A-Za-z0-9._-]+", "-", text), text, _MAX_LABEL)


def agent_object_name(agent_id: str, version: str) -> str:
    """The name of the Agent object of one agent version: ``ID-VERSION``."""
    return object_name(f"{agent_id}-{version}")


def agent_labels(agent_id: str, version: str) -> dict[str, str]:
    return {LABEL_AGENT_ID: label_value(agent_id), LABEL_AGENT_VERSION: label_value(version)}


def generate_name_prefix(name: str) -> str:
    """A ``metadata.generateName`` from an object name: ``NAME-`` cut to what the server keeps."""
    return _trim(name, _MAX_GENERATE_NAME - 1) + "-"


def _with_hash(base: str, original: str, limit: int) -> str:
    digest = hashlib.sha256(original.encode()).hexdigest()[:_HASH_LENGTH]
    head = _trim(base, limit - _HASH_LENGTH - 1)
    return f"{head}-{digest}" if head else digest


def _trim(text: str, limit: int) -> str:
    # Names and label values start and end alphanumeric; cutting may leave a '-', '.' or '_'.
    return text.lstrip("-._")[:limit].rstrip("-._")
