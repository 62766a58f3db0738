"""``mentatctl agent init --lang node|rust``: a Cog-Pak that validates and runs at once,
built on its first run; a broken source is a clear node error. (Python: test_cli_runs.py.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_harness import REPO, Cli
from toolchains import node_and_rust

__all__ = ["node_and_rust"]

TEMPLATES = REPO / "src" / "mentatlab" / "cli" / "templates"
GREETING = {"result": "Hi, MentatLab agents run in seconds", "words": 5}


def init_and_run(cli: Cli, tmp_path: Path, name: str, lang: str) -> Path:
    created = cli("agent", "init", name, "--lang", lang, "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    cogpak = tmp_path / name
    assert cli("validate", str(cogpak)).returncode == 0
    ran = cli("run", str(cogpak / "example.flow.yaml"), "--output", "json", timeout=900)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["outputs"]["show"] == GREETING
    return cogpak


def test_node_cogpak_installs_on_first_run_and_tests(
    cli: Cli, tmp_path: Path, node_and_rust: None
) -> None:
    cogpak = init_and_run(cli, tmp_path, "acme.node-greeter", "node")
    assert json.loads((cogpak / "package.json").read_text())["dependencies"] == {
        "@mentatlab/sdk": f"file:{REPO / 'sdks' / 'node'}"
    }
    tests = subprocess.run(
        ["npm", "test"], cwd=cogpak, capture_output=True, text=True, timeout=120, check=False
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # A cached install: the second run does not install again.
    ran = cli("run", str(cogpak / "example.flow.yaml"))
    assert ran.returncode == 0 and "npm install" not in ran.stdout, ran.stdout


def test_rust_cogpak_builds_on_first_run_and_tests(
    cli: Cli, tmp_path: Path, node_and_rust: None
) -> None:
    cogpak = init_and_run(cli, tmp_path, "acme.rust-greeter", "rust")
    tests = subprocess.run(
        ["cargo", "test", "--quiet"],
        cwd=cogpak,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    ran = cli("run", str(cogpak / "example.flow.yaml"))
    assert ran.returncode == 0 and "cargo build" not in ran.stdout, ran.stdout


@pytest.mark.parametrize(
    ("lang", "source", "broken", "message"),
    [
        (
            "node",
            "agent.mjs",
            ("ctx.progress(50,", "ctx.progress(50,,"),
            "SyntaxError: Unexpected token ','",
        ),
        (
            "rust",
            "src/main.rs",
            ("let words = ", "let words = nope + "),
            "cargo build failed: error[E0425]: cannot find value `nope` in this scope "
            "(the whole output is in the node log)",
        ),
        (
            "node",
            "package.json",
            ('"private": true,', '"private": true,,'),
            "npm install failed: npm error code EJSONPARSE (the whole output is in the node log)",
        ),
    ],
    ids=["node-source", "rust-source", "node-package"],
)
def test_broken_source_is_a_clear_node_error(
    cli: Cli,
    tmp_path: Path,
    node_and_rust: None,
    *,
    lang: str,
    source: str,
    broken: tuple[str, str],
    message: str,
) -> None:
    name = f"acme.broken-{lang}"
    assert cli("agent", "init", name, "--lang", lang, "--dir", str(tmp_path)).returncode == 0
    path = tmp_path / name / source
    path.write_text(path.read_text().replace(*broken, 1))
    ran = cli("run", str(tmp_path / name / "example.flow.yaml"), timeout=900)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1, output
    # The run's final error line: the node's error, with what went wrong.
    error = output[output.rindex("error: node 'agent' failed (attempt ") :]
    assert message in " ".join(error.split()), output


@pytest.mark.parametrize("lang", ["node", "rust"])
def test_example_agents_use_the_templates_launcher(lang: str) -> None:
    launcher = (TEMPLATES / lang / "run.sh").read_text()
    assert (REPO / "agents" / f"mixed-{lang}" / "run.sh").read_text() == launcher


def test_without_an_sdk_checkout_init_says_what_to_set(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTATLAB_SDK_RUST", str(tmp_path / "nowhere"))
    result = cli("agent", "init", "acme.x", "--lang", "rust", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "set MENTATLAB_SDK_RUST to the sdks/rust directory" in " ".join(result.stderr.split())
