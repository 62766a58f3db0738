"""Signed Cog-Paks: Ed25519 keys, signatures, and verification against a trust store.

What is signed, format v1, is this UTF-8 *statement*: a version line, then one line per file of
the Cog-Pak (see :mod:`~mentatlab.validation.cogpak_files`: every regular file but the root
``cogpak.sig``, the manifest included), sorted by UTF-8 path::

    mentatlab-cogpak-digest/v1
    <sha256 hex of the contents> <x if executable, else -> <relative POSIX path>

Its SHA-256 is the Cog-Pak's *digest* (``sha256:<hex>``, shown to users). ``cogpak.sig`` is JSON:
the format, the key id (``ed25519:`` + SHA-256 hex of the raw 32-byte public key), the file
list the statement is made of, and the Ed25519 signature of the statement in base64. Keeping the
list lets verification name each changed, added or removed file once the signature has proved
that the list is the signer's.

Keys and trust stores: :mod:`~mentatlab.validation.keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mentatlab.validation.archives import is_cogpak_archive, pack_cogpak, unpacked_cogpak
from mentatlab.validation.cogpak_files import (
    SIGNATURE_FILENAME,
    CogPakError,
    CogPakFile,
    list_cogpak_files,
    require_manifest,
)
from mentatlab.validation.keys import (
    SigningKey,
    SigningKeyError,
    generate_keypair,
    key_id,
    load_private_key,
    load_trust_store,
)

# The key functions are re-exported: this module is the one entry point for signed Cog-Paks.
__all__ = [
    "SIGNATURE_FORMAT",
    "SignatureCheck",
    "SignedCogPak",
    "SigningKey",
    "SigningKeyError",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_trust_store",
    "sign_cogpak",
    "verify_cogpak",
]

SIGNATURE_FORMAT: Final = "mentatlab.cogpak-signature/v1"
_STATEMENT_HEADER: Final = "mentatlab-cogpak-digest/v1"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNATURE_BYTES: Final = 16 * 1024 * 1024
_LISTED: Final = 10
"""Files named per kind of change in a message; the rest are counted."""
_BUILD_OUTPUTS: Final = frozenset({"__pycache__", ".build", "node_modules", "target"})
"""Directories that building or running a Cog-Pak writes: named in a hint, never left out."""


@dataclass(frozen=True, slots=True)
class SignedCogPak:
    """What :func:`sign_cogpak` signed."""

    path: Path
    key_id: str
    digest: str
    files: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "keyId": self.key_id,
            "digest": self.digest,
            "files": self.files,
        }


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The verdict of :func:`verify_cogpak`: ``ok`` only for an intact Cog-Pak signed by a
    trusted key; ``message`` says why in one line either way."""

    ok: bool
    message: str
    key_id: str | None = None
    key_name: str | None = None
    """The trust store's name of the key (``NAME`` of ``NAME.pub``), when it is trusted."""
    digest: str | None = None
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "keyId": self.key_id,
            "keyName": self.key_name,
            "digest": self.digest,
            "changed": list(self.changed),
            "added": list(self.added),
            "removed": list(self.removed),
        }


@dataclass(frozen=True, slots=True)
class _Signature:
    key_id: str
    files: tuple[CogPakFile, ...]
    signature: bytes


# --- signing ----------------------------------------------------------------------------------


def sign_cogpak(cogpak: Path, private_key_path: Path) -> SignedCogPak:
    """Sign a Cog-Pak directory (writes its ``cogpak.sig``) or ``.tar.gz`` archive (rewritten
    in place, with ``cogpak.sig`` added, by :func:`~mentatlab.validation.archives.pack_cogpak`).

    Everything in the Cog-Pak is signed, build outputs included: sign the tree you ship.
    Raises :class:`SigningKeyError` for the key, :class:`CogPakError` for the Cog-Pak.
    """
    private_key = load_private_key(private_key_path)
    if is_cogpak_archive(cogpak):
        with unpacked_cogpak(cogpak) as root:
            signed = _sign_directory(root, private_key)
            pack_cogpak(root, cogpak)
        return SignedCogPak(cogpak, signed.key_id, signed.digest, signed.files)
    return _sign_directory(cogpak, private_key)


def _sign_directory(root: Path, private_key: Ed25519PrivateKey) -> SignedCogPak:
    require_manifest(root)
    files = list_cogpak_files(root)
    statement = _statement(files)
    signer = key_id(private_key.public_key())
    document = {
        "format": SIGNATURE_FORMAT,
        "keyId": signer,
        "files": [
            {"path": file.path, "sha256": file.sha256, "executable": file.executable}
            for file in files
        ],
        "signature": base64.b64encode(private_key.sign(statement)).decode("ascii"),
    }
    _write_atomically(root / SIGNATURE_FILENAME, json.dumps(document, indent=2) + "\n")
    return SignedCogPak(root, signer, _digest(statement), len(files))


def _write_atomically(path: Path, text: str) -> None:
    # A crash mid-write leaves the old signature (or none), never half of one.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o644)
            stream.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _statement(files: Iterable[CogPakFile]) -> bytes:
    lines = [_STATEMENT_HEADER]
    lines += [f"{file.sha256} {'x' if file.executable else '-'} {file.path}" for file in files]
    return ("\n".join(lines) + "\n").encode()


def _digest(statement: bytes) -> str:
    return f"sha256:{hashlib.sha256(statement).hexdigest()}"


# --- verification -----------------------------------------------------------------------------


def verify_cogpak(cogpak_dir: Path, trust_dir: Path) -> SignatureCheck:
    """Check that a Cog-Pak is signed by a key of ``trust_dir`` and unchanged since.

    ``cogpak_dir`` is a Cog-Pak directory or a ``.tar.gz`` archive (unpacked safely into a
    temporary directory). Never raises for a bad Cog-Pak, signature or trust store: the
    returned check says what is wrong, naming each changed, added or removed file.
    """
    try:
        if is_cogpak_archive(cogpak_dir):
            with unpacked_cogpak(cogpak_dir) as root:
                return _verify_directory(root, trust_dir)
        return _verify_directory(cogpak_dir, trust_dir)
    except CogPakError as exc:
        return SignatureCheck(ok=False, message=str(exc))
    except OSError as exc:
        return SignatureCheck(ok=False, message=f"cannot read: {exc}")


def _verify_directory(root: Path, trust_dir: Path) -> SignatureCheck:
    if not root.is_dir():
        raise CogPakError("not a Cog-Pak directory or .tar.gz archive")
    signature = _read_signature(root / SIGNATURE_FILENAME)
    signer = signature.key_id
    try:
        trusted = load_trust_store(trust_dir)
    except SigningKeyError as exc:
        return SignatureCheck(ok=False, message=str(exc), key_id=signer)
    if signer not in trusted:
        names = ", ".join(name for name, _ in trusted.values())
        return SignatureCheck(
            ok=False,
            message=f"signed by an unknown key {signer}, not in trust store "
            f"{trust_dir} (trusted: {names})",
            key_id=signer,
        )
    name, public_key = trusted[signer]
    statement = _statement(signature.files)
    try:
        public_key.verify(signature.signature, statement)
    except InvalidSignature:
        return SignatureCheck(
            ok=False,
            message=f"bad signature: {SIGNATURE_FILENAME} was not made by key "
            f"{name!r} ({signer}) for the files it lists; it was altered",
            key_id=signer,
        )
    digest = _digest(statement)
    try:
        current = list_cogpak_files(root)
    except CogPakError as exc:
        return SignatureCheck(ok=False, message=str(exc), key_id=signer, digest=digest)
    changed, added, removed = _differences(signature.files, current)
    if changed or added or removed:
        return SignatureCheck(
            ok=False,
            message="does not match its signature: " + _describe(changed, added, removed),
            key_id=signer,
            key_name=name,
            digest=digest,
            changed=changed,
            added=added,
            removed=removed,
        )
    return SignatureCheck(
        ok=True,
        message=f"signed by trusted key {name!r} ({signer}), "
        f"{len(current)} file(s) intact, digest {digest}",
        key_id=signer,
        key_name=name,
        digest=digest,
    )


def _read_signature(path: Path) -> _Signature:
    try:
        # O_NOFOLLOW: the signature file is a regular file like every other.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise CogPakError(f"not signed: no {SIGNATURE_FILENAME}") from None
    except OSError as exc:
        raise CogPakError(f"cannot read {SIGNATURE_FILENAME}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(_MAX_SIGNATURE_BYTES + 1)
    if len(data) > _MAX_SIGNATURE_BYTES:
        raise CogPakError(f"{SIGNATURE_FILENAME} is larger than {_MAX_SIGNATURE_BYTES} bytes")
    try:
        return _parse_signature(json.loads(data))
    except KeyError as exc:
        raise CogPakError(f"malformed {SIGNATURE_FILENAME}: missing field {exc}") from None
    except (ValueError, binascii.Error) as exc:
        raise CogPakError(f"malformed {SIGNATURE_FILENAME}: {exc}") from None


def _parse_signature(document: Any) -> _Signature:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("format") != SIGNATURE_FORMAT:
        raise ValueError(f"format is {document.get('format')!r}, expected {SIGNATURE_FORMAT!r}")
    signer, entries = document["keyId"], document["files"]
    if not isinstance(signer, str) or not isinstance(entries, list):
        raise ValueError("keyId must be a string and files a list")
    files: list[CogPakFile] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("each file must be an object with path, sha256 and executable")
        path, sha256, executable = entry["path"], entry["sha256"], entry["executable"]
        # One file per line in the statement: a path cannot hold a line break.
        if not isinstance(path, str) or not path or any(ord(char) < 0x20 for char in path):
            raise ValueError(f"invalid file path {path!r}")
        if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"{path}: invalid sha256 {sha256!r}")
        if not isinstance(executable, bool):
            raise ValueError(f"{path}: executable must be true or false")
        files.append(CogPakFile(path, sha256, executable))
    encoded = document["signature"]
    if not isinstance(encoded, str):
        raise ValueError("signature must be a base64 string")
    return _Signature(signer, tuple(files), base64.b64decode(encoded, validate=True))


def _differences(
    signed: Iterable[CogPakFile], current: Iterable[CogPakFile]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    before = {file.path: file for file in signed}
    after = {file.path: file for file in current}
    changed = []
    for path in _sorted(before.keys() & after.keys()):
        old, new = before[path], after[path]
        if old.sha256 != new.sha256:
            changed.append(path)
        elif old.executable != new.executable:
            changed.append(f"{path} (executable bit)")
    added = _sorted(after.keys() - before.keys())
    removed = _sorted(before.keys() - after.keys())
    return tuple(changed), added, removed


def _sorted(paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(paths, key=str.encode))


def _describe(changed: tuple[str, ...], added: tuple[str, ...], removed: tuple[str, ...]) -> str:
    parts = [
        f"{kind}: {_listing(paths)}"
        for kind, paths in (("changed", changed), ("added", added), ("removed", removed))
        if paths
    ]
    message = "; ".join(parts)
    if any(_BUILD_OUTPUTS.intersection(path.split("/")[:-1]) for path in added):
        message += (
            " (building or running a Cog-Pak after signing changes it: sign the tree you ship, "
            "after building it if its build outputs ship too)"
        )
    return message


def _listing(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:_LISTED])
    return shown if len(paths) <= _LISTED else f"{shown} and {len(paths) - _LISTED} more"
