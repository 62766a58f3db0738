"""Ed25519 keys that sign Cog-Paks, and trust stores of the public ones.

Keys are PEM files in standard formats (``openssl pkey`` reads them): PKCS #8 private keys
(``NAME.key``, mode 0600) and SubjectPublicKeyInfo public keys (``NAME.pub``). A trust store is
a directory of ``*.pub`` files. See ``docs/security.md`` ("Signed Cog-Paks").
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "SigningKey",
    "SigningKeyError",
    "TrustStore",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_trust_store",
]

_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

TrustStore = dict[str, tuple[str, Ed25519PublicKey]]
"""Trusted public keys by key id, each with its name (``NAME`` of ``NAME.pub``)."""


class SigningKeyError(Exception):
    """A key that cannot be created or read, or a trust store that cannot be used."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key pair written by :func:`generate_keypair`."""

    name: str
    key_id: str
    private_path: Path
    public_path: Path

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "keyId": self.key_id,
            "privateKey": str(self.private_path),
            "publicKey": str(self.public_path),
        }


def key_id(public_key: Ed25519PublicKey) -> str:
    """``ed25519:`` + the SHA-256 hex of the raw public key: stable whatever the file format."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"ed25519:{hashlib.sha256(raw).hexdigest()}"


def generate_keypair(name: str, directory: Path) -> SigningKey:
    """Write ``directory/NAME.key`` (private, mode 0600) and ``directory/NAME.pub``.

    Refuses to overwrite either file. ``directory`` is created (mode 0700) if missing.
    """
    if not _KEY_NAME.fullmatch(name):
        raise SigningKeyError(
            f"key name {name!r}: use letters, digits, '.', '_' and '-' (at most 64 characters)"
        )
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    existing = [str(path) for path in (private_path, public_path) if path.exists()]
    if existing:
        verb = "exists" if len(existing) == 1 else "exist"
        raise SigningKeyError(f"{' and '.join(existing)} already {verb}: not overwriting a key")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SigningKeyError(f"cannot create {directory}: {exc.strerror}") from None
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create(private_path, private_pem, 0o600)
    try:
        _create(public_path, public_pem, 0o644)
    except SigningKeyError:
        private_path.unlink()  # no private key without its public half
        raise
    return SigningKey(name, key_id(private_key.public_key()), private_path, public_path)


def _create(path: Path, data: bytes, mode: int) -> None:
    # Created with its mode (O_EXCL: never over an existing file or link), so a private key is
    # never readable by others, not even between creation and a chmod.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise SigningKeyError(f"{path} already exists: not overwriting a key") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as stream:
        os.fchmod(stream.fileno(), mode)  # exactly ``mode``, whatever the umask
        stream.write(data)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a private key written by :func:`generate_keypair`.

    Like ssh, refuses a key file that other users can read or write.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read private key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SigningKeyError(
            f"private key {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}): "
            f"run chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{path} is not an unencrypted Ed25519 private key (PEM, PKCS #8): "
            "make one with 'mentatctl keys generate'"
        )
    return key


def load_trust_store(trust_dir: Path) -> TrustStore:
    """The keys of a trust store by key id, each with its name (``NAME`` of ``NAME.pub``).

    Any unreadable ``*.pub`` file fails the whole store: a key silently left out would turn
    into a confusing "unknown key" later.
    """
    if not trust_dir.is_dir():
        raise SigningKeyError(f"trust store {trust_dir} is not a directory")
    keys: TrustStore = {}
    for path in sorted(trust_dir.glob("*.pub")):
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except OSError as exc:
            raise SigningKeyError(f"trust store: cannot read {path}: {exc.strerror}") from None
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"trust store: {path} is not an Ed25519 public key (PEM)")
        keys.setdefault(key_id(key), (path.stem, key))
    if not keys:
        raise SigningKeyError(f"trust store {trust_dir} holds no public keys (*.pub)")
    return keys
