"""``mentatctl keys generate`` and ``mentatctl agent sign|verify|pack``, through the real CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cli_harness import Cli

from mentatlab.validation.signing import generate_keypair


def _cogpak(root: Path) -> Path:
    root.mkdir()
    (root / "manifest.yaml").write_text("id: acme.echo\nversion: 1.0.0\n", encoding="utf-8")
    (root / "main.py").write_text("print('hello')\n", encoding="utf-8")
    return root


def test_generate_sign_verify_tamper_and_pack(cli: Cli, tmp_path: Path) -> None:
    keys, trust = tmp_path / "keys", tmp_path / "trust"
    generated = cli("keys", "generate", "release", "--dir", str(keys), "--output", "json")
    assert generated.returncode == 0, generated.stderr
    key = json.loads(generated.stdout)
    assert key["keyId"].startswith("ed25519:")
    assert stat.S_IMODE((keys / "release.key").stat().st_mode) == 0o600
    again = cli("keys", "generate", "release", "--dir", str(keys))
    assert again.returncode == 1
    assert "already exist: not overwriting a key" in again.stderr
    trust.mkdir()
    (trust / "release.pub").write_bytes((keys / "release.pub").read_bytes())

    cogpak = _cogpak(tmp_path / "acme.echo")
    signed = cli("agent", "sign", str(cogpak), "--key", str(keys / "release.key"))
    assert signed.returncode == 0, signed.stderr
    assert f"key {key['keyId']}" in signed.stdout
    verified = cli("agent", "verify", str(cogpak), "--trust", str(trust))
    assert verified.returncode == 0, verified.stdout
    assert "signed by trusted key 'release'" in verified.stdout

    archive = tmp_path / "echo.tar.gz"
    packed = cli("agent", "pack", str(cogpak), "-o", str(archive))
    assert packed.returncode == 0, packed.stderr
    assert cli("agent", "verify", str(archive), "--trust", str(trust)).returncode == 0

    (cogpak / "main.py").write_text("import os\n", encoding="utf-8")
    tampered = cli("agent", "verify", str(cogpak), "--trust", str(trust), "--output", "json")
    assert tampered.returncode == 1
    verdict = json.loads(tampered.stdout)
    assert verdict["ok"] is False
    assert verdict["changed"] == ["main.py"]
    assert verdict["keyName"] == "release"


def test_unknown_keys_and_bad_key_files_fail_with_a_message(cli: Cli, tmp_path: Path) -> None:
    generate_keypair("a", tmp_path / "a")
    generate_keypair("b", tmp_path / "b")
    cogpak = _cogpak(tmp_path / "acme.echo")
    assert cli("agent", "sign", str(cogpak), "--key", str(tmp_path / "a/a.key")).returncode == 0

    unsigned_cogpak = _cogpak(tmp_path / "unsigned")
    unsigned = cli("agent", "verify", str(unsigned_cogpak), "--trust", str(tmp_path / "a"))
    assert unsigned.returncode == 1
    assert "not signed: no cogpak.sig" in unsigned.stdout
    unknown = cli("agent", "verify", str(cogpak), "--trust", str(tmp_path / "b"))
    assert unknown.returncode == 1
    assert "signed by an unknown key ed25519:" in unknown.stdout

    (tmp_path / "a/a.key").chmod(0o644)
    loose = cli("agent", "sign", str(cogpak), "--key", str(tmp_path / "a/a.key"))
    assert loose.returncode == 1
    assert "is accessible to other users" in loose.stderr

    missing = cli("agent", "verify", str(tmp_path / "nowhere"), "--trust", str(tmp_path / "a"))
    assert missing.returncode == 2  # a usage error, like every command's missing path
