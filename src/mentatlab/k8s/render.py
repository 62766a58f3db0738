"""Deploy manifests as YAML: one multi-document stream, or the kustomize base in ``deploy/``.

``deploy/`` is checked in and written by :func:`write_kustomize` (``make deploy``);
``tests/k8s`` fails when it differs from what the code generates.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.resolver import VersionedResolver

from mentatlab.k8s.manifests import deploy_manifests

__all__ = ["GENERATED_HEADER", "kustomize_files", "to_yaml", "write_kustomize"]

GENERATED_HEADER: Final = (
    "# Generated from src/mentatlab/k8s by `make deploy`"
    " (mentatctl k8s render --kustomize deploy). Do not edit.\n"
)
_CRD: Final = "CustomResourceDefinition"


class _Yaml11Resolver(VersionedResolver):
    # kubectl and kustomize read YAML 1.1, where yes/no/on/off are booleans: quote such strings.
    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 1)


def to_yaml(objects: Iterable[Mapping[str, Any]]) -> str:
    """``objects`` as a YAML stream, each document starting with ``---``."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml11Resolver
    yaml.default_flow_style = False  # before .representer, which copies it when first used
    yaml.representer.sort_base_mapping_type_on_output = False  # keep apiVersion, kind first
    yaml.explicit_start = True
    yaml.width = 100
    buffer = io.StringIO()
    yaml.dump_all([dict(obj) for obj in objects], buffer)
    return buffer.getvalue()


def kustomize_files() -> dict[str, str]:
    """The kustomize base: relative path to file text, ``kustomization.yaml`` included."""
    files: dict[str, str] = {}
    for obj in deploy_manifests():
        if obj["kind"] == _CRD:
            path = f"crds/{obj['metadata']['name']}.yaml"
        else:
            path = f"operator/{obj['kind'].lower()}.yaml"
        files[path] = GENERATED_HEADER + to_yaml([obj])
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    return {"kustomization.yaml": GENERATED_HEADER + to_yaml([kustomization]), **files}


def write_kustomize(directory: Path) -> list[Path]:
    """Write the kustomize base into ``directory``; returns the files written.

    Generated files that are no longer generated (a renamed kind) are removed; other files
    are left alone.
    """
    files = kustomize_files()
    for stale in sorted(directory.glob("**/*.yaml")):
        relative = stale.relative_to(directory).as_posix()
        if relative not in files and stale.read_text("utf-8").startswith(GENERATED_HEADER):
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
