"""The files of a Cog-Pak directory, as signing, verification and packing see them.

One walk defines "the contents of a Cog-Pak" for all three, so what is signed is exactly what is
packed and what is verified. Regular files only: a symbolic link (inside or out), a device, a
socket or a FIFO makes the Cog-Pak unreadable, because what it points to is not part of the
Cog-Pak and could change without changing it. Empty directories carry nothing and are ignored.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mentatlab.validation.loading import MANIFEST_FILENAMES

__all__ = [
    "SIGNATURE_FILENAME",
    "CogPakError",
    "CogPakFile",
    "list_cogpak_files",
    "require_manifest",
]

SIGNATURE_FILENAME: Final = "cogpak.sig"
"""The signature file at the root of a signed Cog-Pak: the one file the signature leaves out."""

_CHUNK: Final = 1024 * 1024


class CogPakError(Exception):
    """A Cog-Pak that cannot be listed, signed, verified or unpacked; the message says why."""


@dataclass(frozen=True, slots=True)
class CogPakFile:
    path: str
    """Relative POSIX path, e.g. ``src/main.py``."""
    sha256: str
    """Lowercase hex SHA-256 of the contents."""
    executable: bool
    """Any execute bit set: ``run.sh`` that loses it no longer starts, so it is signed too."""


def list_cogpak_files(root: Path) -> list[CogPakFile]:
    """Every regular file under ``root`` but ``root/cogpak.sig``, sorted by UTF-8 path.

    Raises :class:`CogPakError` for links, special files, and names that are not UTF-8 or hold
    control characters (the signed statement has one file per line).
    """
    if not root.is_dir():
        raise CogPakError(f"{root} is not a directory")
    files: list[CogPakFile] = []
    _walk(root, "", files)
    files.sort(key=lambda file: file.path.encode())
    return files


def require_manifest(root: Path) -> None:
    """Raise :class:`CogPakError` unless ``root`` holds a Cog-Pak manifest."""
    if not any((root / name).is_file() for name in MANIFEST_FILENAMES):
        raise CogPakError(f"{root} is not a Cog-Pak: it has no {' or '.join(MANIFEST_FILENAMES)}")


def _walk(directory: Path, prefix: str, files: list[CogPakFile]) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            if not prefix and entry.name == SIGNATURE_FILENAME:
                continue
            relative = _relative(prefix, entry.name)
            # lstat: never follow a link, whatever it points to.
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                _walk(Path(entry.path), f"{relative}/", files)
            elif stat.S_ISREG(mode):
                files.append(
                    CogPakFile(relative, _sha256(entry.path, relative), bool(mode & 0o111))
                )
            elif stat.S_ISLNK(mode):
                target = Path(entry.path).readlink()
                raise CogPakError(
                    f"{relative}: symbolic link (to {target}): a Cog-Pak holds regular files "
                    "only; replace the link with a copy of what it points to"
                )
            else:
                raise CogPakError(f"{relative}: not a regular file (device, socket or FIFO)")


def _relative(prefix: str, name: str) -> str:
    relative = prefix + name
    try:
        relative.encode()
    except UnicodeEncodeError:  # os.scandir decodes undecodable bytes as lone surrogates
        raise CogPakError(f"{relative!r}: file name is not valid UTF-8") from None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise CogPakError(f"{relative!r}: file name holds control characters")
    return relative


def _sha256(path: str, relative: str) -> str:
    digest = hashlib.sha256()
    try:
        # O_NOFOLLOW: a file swapped for a link since it was listed is refused, not followed.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise CogPakError(f"{relative}: cannot read: {exc.strerror}") from None
    return digest.hexdigest()
