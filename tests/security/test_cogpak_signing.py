"""Signed Cog-Paks: any change, an unknown key or a forged signature is rejected, by name."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentatlab.validation.archives import pack_cogpak
from mentatlab.validation.cogpak_files import SIGNATURE_FILENAME, CogPakError
from mentatlab.validation.signing import (
    SigningKey,
    SigningKeyError,
    generate_keypair,
    load_private_key,
    sign_cogpak,
    verify_cogpak,
)

FILES = {
    "manifest.yaml": b"id: acme.echo\nversion: 1.0.0\n",
    "main.py": b"print('hello')\n",
    "src/lib/util.py": b"VALUE = 1\n",
    "data/blob.bin": bytes(range(256)),
}


def make_cogpak(root: Path) -> Path:
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (root / "run.sh").write_text("#!/bin/sh\nexec python3 main.py\n")
    (root / "run.sh").chmod(0o755)
    return root


@pytest.fixture
def alice(tmp_path: Path) -> SigningKey:
    return generate_keypair("alice", tmp_path / "keys")


@pytest.fixture
def trust(tmp_path: Path, alice: SigningKey) -> Path:
    store = tmp_path / "trust"
    store.mkdir()
    shutil.copy(alice.public_path, store / "alice.pub")
    return store


@pytest.fixture
def signed(tmp_path: Path, alice: SigningKey) -> Path:
    cogpak = make_cogpak(tmp_path / "echo")
    sign_cogpak(cogpak, alice.private_path)
    return cogpak


def test_a_signed_cogpak_verifies(signed: Path, trust: Path, alice: SigningKey) -> None:
    check = verify_cogpak(signed, trust)
    assert check.ok, check.message
    assert check.key_id == alice.key_id
    assert check.key_name == "alice"
    assert "signed by trusted key 'alice'" in check.message
    assert "5 file(s) intact" in check.message


def test_the_digest_is_the_documented_statement(signed: Path, trust: Path) -> None:
    """Pins format v1 (docs/security.md): a change to it must be a new format version."""
    lines = ["mentatlab-cogpak-digest/v1"]
    entries = {**FILES, "run.sh": (signed / "run.sh").read_bytes()}
    for name in sorted(entries, key=str.encode):
        flag = "x" if name == "run.sh" else "-"
        lines.append(f"{hashlib.sha256(entries[name]).hexdigest()} {flag} {name}")
    statement = ("\n".join(lines) + "\n").encode()
    check = verify_cogpak(signed, trust)
    assert check.digest == f"sha256:{hashlib.sha256(statement).hexdigest()}"


def _change(cogpak: Path) -> None:
    (cogpak / "src/lib/util.py").write_bytes(b"VALUE = 2\n")


def _change_manifest(cogpak: Path) -> None:
    (cogpak / "manifest.yaml").write_bytes(FILES["manifest.yaml"] + b"# comment\n")


def _add(cogpak: Path) -> None:
    (cogpak / "src/lib/extra.py").write_bytes(b"import os\n")


def _remove(cogpak: Path) -> None:
    (cogpak / "data/blob.bin").unlink()


def _chmod(cogpak: Path) -> None:
    (cogpak / "run.sh").chmod(0o644)


@pytest.mark.parametrize(
    ("tamper", "kind", "named"),
    [
        (_change, "changed", "src/lib/util.py"),
        (_change_manifest, "changed", "manifest.yaml"),
        (_add, "added", "src/lib/extra.py"),
        (_remove, "removed", "data/blob.bin"),
        (_chmod, "changed", "run.sh (executable bit)"),
    ],
)
def test_any_change_is_rejected_naming_the_file(
    signed: Path, trust: Path, tamper: Callable[[Path], None], kind: str, named: str
) -> None:
    tamper(signed)
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert f"does not match its signature: {kind}: {named}" in check.message
    assert getattr(check, kind) == (named,)


def test_files_written_by_a_build_get_a_hint(signed: Path, trust: Path) -> None:
    (signed / "__pycache__").mkdir()
    (signed / "__pycache__/main.cpython-311.pyc").write_bytes(b"\0")
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert "added: __pycache__/main.cpython-311.pyc" in check.message
    assert "sign the tree you ship" in check.message


def test_a_long_list_of_changes_is_shortened(signed: Path, trust: Path) -> None:
    for index in range(15):
        (signed / f"new{index:02}.txt").write_text("x")
    check = verify_cogpak(signed, trust)
    assert len(check.added) == 15
    assert "new09.txt and 5 more" in check.message


def test_an_unknown_key_is_rejected(tmp_path: Path, trust: Path) -> None:
    mallory = generate_keypair("mallory", tmp_path / "other")
    cogpak = make_cogpak(tmp_path / "pak")
    sign_cogpak(cogpak, mallory.private_path)
    check = verify_cogpak(cogpak, trust)
    assert not check.ok
    assert check.key_id == mallory.key_id
    assert f"signed by an unknown key {mallory.key_id}" in check.message
    assert "trusted: alice" in check.message


def _edit_signature(cogpak: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = cogpak / SIGNATURE_FILENAME
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def test_tampered_signature_bytes_are_rejected(signed: Path, trust: Path) -> None:
    def flip(document: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(str(document["signature"])))
        raw[10] ^= 0x01
        document["signature"] = base64.b64encode(bytes(raw)).decode()

    _edit_signature(signed, flip)
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert check.message.startswith("bad signature: cogpak.sig was not made by key 'alice'")


def test_a_file_list_edited_to_match_a_change_is_rejected(signed: Path, trust: Path) -> None:
    _change(signed)
    new_hash = hashlib.sha256((signed / "src/lib/util.py").read_bytes()).hexdigest()

    def cover_up(document: dict[str, Any]) -> None:
        for entry in document["files"]:
            if entry["path"] == "src/lib/util.py":
                entry["sha256"] = new_hash

    _edit_signature(signed, cover_up)
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert check.message.startswith("bad signature")


def test_an_unsigned_cogpak_is_rejected(tmp_path: Path, trust: Path) -> None:
    check = verify_cogpak(make_cogpak(tmp_path / "pak"), trust)
    assert not check.ok
    assert check.key_id is None
    assert check.message == "not signed: no cogpak.sig"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "malformed cogpak.sig"),
        (b"[]", "malformed cogpak.sig: not a JSON object"),
        (b'{"format": "other/v9"}', "format is 'other/v9'"),
        (
            b'{"format": "mentatlab.cogpak-signature/v1", "keyId": "x", "files": []}',
            "missing field 'signature'",
        ),
        (
            b'{"format": "mentatlab.cogpak-signature/v1", "keyId": "x", "files": [], '
            b'"signature": "%%%"}',
            "malformed cogpak.sig",
        ),
    ],
)
def test_a_malformed_signature_file_is_rejected(
    signed: Path, trust: Path, content: bytes, message: str
) -> None:
    (signed / SIGNATURE_FILENAME).write_bytes(content)
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert message in check.message


def test_trust_store_problems_are_reported(signed: Path, tmp_path: Path) -> None:
    assert "trust store" in verify_cogpak(signed, tmp_path / "missing").message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no public keys" in verify_cogpak(signed, empty).message
    (empty / "junk.pub").write_text("not a key")
    check = verify_cogpak(signed, empty)
    assert not check.ok
    assert "junk.pub is not an Ed25519 public key" in check.message


def test_a_missing_cogpak_is_rejected(tmp_path: Path, trust: Path) -> None:
    check = verify_cogpak(tmp_path / "nowhere", trust)
    assert not check.ok
    assert "not a Cog-Pak directory" in check.message


def test_links_are_refused(signed: Path, trust: Path, alice: SigningKey) -> None:
    (signed / "escape").symlink_to("/etc/passwd")
    check = verify_cogpak(signed, trust)
    assert not check.ok
    assert "escape: symbolic link (to /etc/passwd)" in check.message
    with pytest.raises(CogPakError, match="escape: symbolic link"):
        sign_cogpak(signed, alice.private_path)


def test_signing_needs_a_manifest(tmp_path: Path, alice: SigningKey) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CogPakError, match=r"no manifest\.yaml"):
        sign_cogpak(tmp_path / "empty", alice.private_path)


# --- keys -------------------------------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_private_key_is_created_with_mode_0600(tmp_path: Path) -> None:
    with _umask(0):  # the mode cannot come from the umask
        key = generate_keypair("ci", tmp_path / "keys")
    assert stat.S_IMODE(key.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.public_path.stat().st_mode) == 0o644
    assert key.private_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert key.public_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert key.key_id.startswith("ed25519:")
    assert len(key.key_id) == len("ed25519:") + 64


def test_generate_refuses_to_overwrite(tmp_path: Path, alice: SigningKey) -> None:
    before = alice.private_path.read_bytes()
    with pytest.raises(SigningKeyError, match="already exist: not overwriting a key"):
        generate_keypair("alice", alice.private_path.parent)
    assert alice.private_path.read_bytes() == before
    alice.private_path.unlink()
    with pytest.raises(SigningKeyError, match=r"alice\.pub already exists"):
        generate_keypair("alice", alice.private_path.parent)
    assert not alice.private_path.exists()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65])
def test_generate_rejects_unsafe_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SigningKeyError, match="key name"):
        generate_keypair(name, tmp_path)


def test_a_private_key_readable_by_others_is_refused(alice: SigningKey) -> None:
    alice.private_path.chmod(0o644)
    with pytest.raises(SigningKeyError, match=r"accessible to other users.*chmod 600"):
        load_private_key(alice.private_path)


def test_a_public_key_is_not_a_private_key(alice: SigningKey, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(alice.public_path.read_bytes())
    wrong.chmod(0o600)
    with pytest.raises(SigningKeyError, match="not an unencrypted Ed25519 private key"):
        load_private_key(wrong)


# --- archives ---------------------------------------------------------------------------------


def test_packing_is_reproducible_and_a_packed_cogpak_verifies(
    signed: Path, trust: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    assert pack_cogpak(signed, first) == 6  # five files and the signature
    (signed / "main.py").touch()  # a new time changes nothing
    pack_cogpak(signed, second)
    assert first.read_bytes() == second.read_bytes()
    check = verify_cogpak(first, trust)
    assert check.ok, check.message


def test_signing_an_archive_adds_the_signature(
    tmp_path: Path, trust: Path, alice: SigningKey
) -> None:
    archive = tmp_path / "echo.tgz"
    pack_cogpak(make_cogpak(tmp_path / "echo"), archive)
    assert verify_cogpak(archive, trust).message == "not signed: no cogpak.sig"
    signed = sign_cogpak(archive, alice.private_path)
    assert signed.path == archive
    assert signed.files == 5
    check = verify_cogpak(archive, trust)
    assert check.ok, check.message
    assert check.digest == signed.digest


def test_packing_refuses_an_archive_inside_the_cogpak(signed: Path) -> None:
    with pytest.raises(CogPakError, match="is inside the Cog-Pak"):
        pack_cogpak(signed, signed / "self.tar.gz")


# --- property ---------------------------------------------------------------------------------


_SIGNED_FILES = [*FILES, "run.sh"]


@settings(max_examples=300, deadline=None)
@given(
    target=st.sampled_from(_SIGNED_FILES),
    position=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_any_byte_flip_in_any_file_is_detected(target: str, position: int, mask: int) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        # A fresh Cog-Pak per example: hypothesis runs many examples per function-scoped fixture.
        root = Path(temporary)
        key = generate_keypair("k", root / "keys")
        (root / "trust").mkdir()
        shutil.copy(key.public_path, root / "trust" / "k.pub")
        cogpak = make_cogpak(root / "pak")
        sign_cogpak(cogpak, key.private_path)
        data = bytearray((cogpak / target).read_bytes())
        data[position % len(data)] ^= mask
        (cogpak / target).write_bytes(bytes(data))
        check = verify_cogpak(cogpak, root / "trust")
    assert not check.ok
    assert check.changed == (target,)
    assert f"changed: {target}" in check.message
