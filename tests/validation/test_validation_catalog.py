"""The agent catalog: discovery, resolution by id/version, invalid manifests, search path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from validation_helpers import manifest

from mentatlab.validation import (
    AgentCatalog,
    AgentNotFoundError,
    InvalidAgentError,
    agent_search_path,
)


def pak(root: Path, name: str, data: dict[str, Any] | str) -> Path:
    (root / name).mkdir(parents=True)
    text = data if isinstance(data, str) else json.dumps(data)
    (root / name / "manifest.yaml").write_text(text)
    return root / name


def test_resolves_highest_version_and_exact_versions(tmp_path: Path) -> None:
    for version in ("1.2.0", "1.10.0", "1.10.0-rc.1", "0.9.9"):
        pak(tmp_path, version, manifest("a.b", version=version))
    catalog = AgentCatalog([tmp_path])
    assert catalog.resolve("a.b").manifest.version == "1.10.0"
    assert catalog.resolve("a.b:1.2.0").directory == tmp_path / "1.2.0"
    assert (
        catalog.resolve("a.b@1.10.0-rc.1").manifest_path
        == tmp_path / "1.10.0-rc.1" / "manifest.yaml"
    )
    with pytest.raises(AgentNotFoundError, match=r"no version '2\.0\.0' \(found: 1\.10\.0, "):
        catalog.resolve("a.b@2.0.0")


def test_first_directory_wins_on_identical_versions(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    pak(first, "x", manifest("a.b", description="first"))
    pak(second, "x", manifest("a.b", description="second"))
    assert AgentCatalog([first, second]).resolve("a.b").manifest.description == "first"
    assert AgentCatalog([second, first]).resolve("a.b").manifest.description == "second"


def test_manifest_files_directly_in_a_directory(tmp_path: Path) -> None:
    (tmp_path / "solo.manifest.yaml").write_text(json.dumps(manifest("a.solo")))
    (tmp_path / "notes.yaml").write_text("not: an agent\n")
    catalog = AgentCatalog([tmp_path])
    assert [agent.manifest.id for agent in catalog.agents] == ["a.solo"]
    assert catalog.resolve("a.solo").directory == tmp_path


def test_invalid_manifests_are_named_not_hidden(tmp_path: Path) -> None:
    pak(tmp_path, "bad", manifest("a.bad", image="x:latest"))
    pak(tmp_path, "broken", "id: [\n")
    catalog = AgentCatalog([tmp_path])
    with pytest.raises(
        InvalidAgentError,
        match=r"'a\.bad' at .*bad/manifest\.yaml has an invalid manifest: "
        r"line \d+, \$\.image: .*latest",
    ):
        catalog.resolve("a.bad")
    with pytest.raises(InvalidAgentError, match="invalid YAML"):
        catalog.resolve("vendor.broken")


def test_unknown_agent_suggests_close_matches(tmp_path: Path) -> None:
    pak(tmp_path, "echo", manifest("mentatlab.echo"))
    with pytest.raises(
        AgentNotFoundError, match=r"'mentatlab\.ecko' not found in .*did you mean 'mentatlab\.echo'"
    ):
        AgentCatalog([tmp_path]).resolve("mentatlab.ecko")


def test_search_path_order(tmp_path: Path) -> None:
    names = ["cli1", "cli2", "env1", "env2", "flows/agents", "agents"]
    for name in names:
        (tmp_path / name).mkdir(parents=True)
    flow_file = tmp_path / "flows" / "f.yaml"
    env_dirs = [tmp_path / "env1", "missing", "", tmp_path / "env2", tmp_path / "cli1"]
    environ = {"MENTATLAB_AGENTS_PATH": ":".join(map(str, env_dirs))}
    found = agent_search_path(
        [Path("cli1"), tmp_path / "cli2", Path("nope")],
        flow_file=flow_file,
        environ=environ,
        cwd=tmp_path,
    )
    assert found == [tmp_path / name for name in names]


def test_search_path_without_anything(tmp_path: Path) -> None:
    assert agent_search_path(environ={}, cwd=tmp_path) == []


def test_agents_given_in_memory_resolve_before_directories(tmp_path: Path) -> None:
    from mentatlab.model.manifest import AgentManifest
    from mentatlab.validation import ResolvedAgent

    manifest = AgentManifest.model_validate(
        {"id": "mem.agent", "version": "2.0.0", "description": "d", "image": "r/a:2.0.0"}
    )
    given = ResolvedAgent(manifest, tmp_path, tmp_path / "Agent:mem.agent-2.0.0")
    catalog = AgentCatalog([], agents=[given])
    assert catalog.resolve("mem.agent") is given
    assert catalog.resolve("mem.agent@2.0.0") is given
