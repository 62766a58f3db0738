"""Cog-Pak archives (``.tar.gz``): safe unpacking and deterministic packing.

Unpacking treats every archive as hostile. Each member is checked before it is written: a
regular file or a directory (no links of any kind, devices or FIFOs: a Cog-Pak holds regular
files only), a relative name without ``..``, and within :class:`ArchiveLimits` (per file, in
total, in number of members). The decompressed stream is bounded too, so a gzip bomb stops early.
Extraction then goes through tarfile's ``data`` filter, an independent second guard against
escapes that also drops ownership and setuid bits.

Packing writes the files of :func:`~mentatlab.validation.cogpak_files.list_cogpak_files` (plus
``cogpak.sig``) at the archive's root, sorted, with zeroed times and owners and modes 0644/0755:
the same Cog-Pak always gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from mentatlab.validation.cogpak_files import (
    SIGNATURE_FILENAME,
    CogPakError,
    list_cogpak_files,
    require_manifest,
)
from mentatlab.validation.loading import MANIFEST_FILENAMES

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveLimits",
    "UnsafeArchiveError",
    "is_cogpak_archive",
    "pack_cogpak",
    "unpack_cogpak",
    "unpacked_cogpak",
]

ARCHIVE_SUFFIXES: Final = (".tar.gz", ".tgz")
_MIB: Final = 1024 * 1024
_HEADER_ALLOWANCE: Final = 8 * 1024
"""Decompressed bytes per member beyond its contents: header, padding, long-name records."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_file_bytes: int = 64 * _MIB
    max_total_bytes: int = 256 * _MIB


class UnsafeArchiveError(CogPakError):
    """An archive member that would escape the destination, or an archive over its limits."""


def is_cogpak_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES) and not path.is_dir()


def unpack_cogpak(archive: Path, destination: Path, *, limits: ArchiveLimits | None = None) -> Path:
    """Unpack ``archive`` into the empty directory ``destination``; return the Cog-Pak's root.

    The root is ``destination`` when the archive has a manifest at its top, else its single
    top-level directory (an archive made with ``tar czf x.tar.gz DIR``). Raises
    :class:`UnsafeArchiveError` for an unsafe member or a limit exceeded, and
    :class:`CogPakError` for an archive that cannot be read; ``destination`` may then hold part
    of the archive, and nothing outside it was written.
    """
    if not hasattr(tarfile, "data_filter"):  # PEP 706: Python 3.11.4+, or a distribution backport
        raise CogPakError("unpacking Cog-Pak archives needs Python 3.11.4 or newer")
    limits = limits or ArchiveLimits()
    bound = limits.max_total_bytes + limits.max_members * _HEADER_ALLOWANCE
    try:
        with (
            archive.open("rb") as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
            # Stream mode: members are checked and written as they come, in one pass.
            tarfile.open(fileobj=_BoundedReader(unzipped, bound), mode="r|") as tar,
        ):
            tar.extractall(destination, members=_checked(tar, limits), filter="data")
    except (UnsafeArchiveError, tarfile.FilterError) as exc:
        raise UnsafeArchiveError(f"unsafe archive {archive.name}: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CogPakError(f"{archive} is not a valid .tar.gz archive: {exc}") from None
    except OSError as exc:
        raise CogPakError(f"cannot unpack {archive}: {exc.strerror or exc}") from None
    return _cogpak_root(destination)


@contextmanager
def unpacked_cogpak(archive: Path, *, limits: ArchiveLimits | None = None) -> Iterator[Path]:
    """:func:`unpack_cogpak` into a temporary directory, removed at the end of the block."""
    with tempfile.TemporaryDirectory(prefix="mentatlab-cogpak-") as temporary:
        yield unpack_cogpak(archive, Path(temporary), limits=limits)


def _checked(tar: tarfile.TarFile, limits: ArchiveLimits) -> Iterator[tarfile.TarInfo]:
    total = 0
    for count, member in enumerate(tar, start=1):
        name = member.name
        if count > limits.max_members:
            raise UnsafeArchiveError(f"more than {limits.max_members} members")
        if PurePosixPath(name).is_absolute():
            raise UnsafeArchiveError(f"{name}: absolute path")
        if ".." in PurePosixPath(name).parts or "\\" in name:
            raise UnsafeArchiveError(f"{name}: path leaves the Cog-Pak ('..' or '\\')")
        if member.issym() or member.islnk():
            kind = "symbolic link" if member.issym() else "hard link"
            raise UnsafeArchiveError(
                f"{name}: {kind} to {member.linkname}: a Cog-Pak archive holds regular files "
                "and directories only"
            )
        if not (member.isreg() or member.isdir()):
            raise UnsafeArchiveError(
                f"{name}: device, FIFO or other special file: a Cog-Pak archive holds regular "
                "files and directories only"
            )
        if member.size > limits.max_file_bytes:
            raise UnsafeArchiveError(
                f"{name}: {member.size} bytes, over the limit of {limits.max_file_bytes} per file"
            )
        total += member.size
        if total > limits.max_total_bytes:
            raise UnsafeArchiveError(
                f"{name}: the archive holds more than {limits.max_total_bytes} bytes in total"
            )
        yield member


class _BoundedReader(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes were read."""

    def __init__(self, stream: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(min(len(buffer), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise UnsafeArchiveError("the archive expands beyond its size limit")
        buffer[: len(data)] = data
        return len(data)


def _cogpak_root(destination: Path) -> Path:
    if any((destination / name).is_file() for name in MANIFEST_FILENAMES):
        return destination
    entries = list(destination.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return destination


def pack_cogpak(cogpak_dir: Path, archive: Path) -> int:
    """Write the Cog-Pak ``cogpak_dir`` (signature included) to ``archive``; return its file count.

    The archive is written to a temporary file next to it and renamed, so an existing archive
    is replaced whole or not at all. Raises :class:`CogPakError`.
    """
    require_manifest(cogpak_dir)
    if archive.resolve().is_relative_to(cogpak_dir.resolve()):
        raise CogPakError(f"{archive} is inside the Cog-Pak {cogpak_dir}: write it elsewhere")
    entries = [(file.path, file.executable) for file in list_cogpak_files(cogpak_dir)]
    signature = cogpak_dir / SIGNATURE_FILENAME
    if signature.is_symlink() or (signature.exists() and not signature.is_file()):
        raise CogPakError(f"{SIGNATURE_FILENAME} is not a regular file")
    if signature.is_file():
        entries.append((SIGNATURE_FILENAME, False))
    entries.sort(key=lambda entry: entry[0].encode())
    try:
        fd, temporary = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.")
    except OSError as exc:
        raise CogPakError(f"cannot write {archive}: {exc.strerror}") from None
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            # No file name and time 0 in the gzip header: same input, same bytes.
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path, executable in entries:
                _add(tar, cogpak_dir / path, path, executable=executable)
        Path(temporary).chmod(0o644)  # mkstemp creates 0600
        Path(temporary).replace(archive)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CogPakError(f"cannot write {archive}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(entries)


def _add(tar: tarfile.TarFile, source: Path, name: str, *, executable: bool) -> None:
    with source.open("rb") as stream:
        member = tarfile.TarInfo(name)  # uid, gid and mtime 0, no user or group names
        member.size = os.fstat(stream.fileno()).st_size
        member.mode = 0o755 if executable else 0o644
        tar.addfile(member, stream)
