"""Hostile Cog-Pak archives are refused with a clear error, and nothing lands outside the target."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mentatlab.validation.archives import (
    ArchiveLimits,
    UnsafeArchiveError,
    unpack_cogpak,
    unpacked_cogpak,
)
from mentatlab.validation.cogpak_files import CogPakError
from mentatlab.validation.signing import verify_cogpak

Member = tuple[tarfile.TarInfo, bytes]


def entry(name: str, data: bytes = b"x", **fields: object) -> Member:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    for field, value in fields.items():
        setattr(member, field, value)
    if member.type != tarfile.REGTYPE:
        member.size, data = 0, b""
    return member, data


def write_archive(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


@pytest.fixture
def unpack(tmp_path: Path) -> Callable[..., Path]:
    """Unpack into ``tmp_path/out/dest``; afterwards, check nothing was written elsewhere."""

    def run(members: list[Member], limits: ArchiveLimits | None = None) -> Path:
        archive = write_archive(tmp_path / "pak.tar.gz", members)
        destination = tmp_path / "out" / "dest"
        destination.mkdir(parents=True)
        before = _outside(tmp_path, destination)
        try:
            return unpack_cogpak(archive, destination, limits=limits)
        finally:
            assert _outside(tmp_path, destination) == before

    return run


def _outside(root: Path, destination: Path) -> set[Path]:
    return {path for path in root.rglob("*") if not path.is_relative_to(destination)}


MANIFEST = entry("manifest.yaml", b"id: acme.echo\n")


def test_a_plain_archive_unpacks(unpack: Callable[..., Path]) -> None:
    root = unpack([MANIFEST, entry("run.sh", b"#!/bin/sh\n", mode=0o755), entry("src/a.py")])
    assert (root / "manifest.yaml").read_bytes() == b"id: acme.echo\n"
    assert (root / "run.sh").stat().st_mode & 0o100
    assert (root / "src/a.py").read_bytes() == b"x"


def test_a_single_top_level_directory_is_the_cogpak(unpack: Callable[..., Path]) -> None:
    root = unpack([entry("echo", type=tarfile.DIRTYPE), entry("echo/manifest.yaml")])
    assert root.name == "echo"
    assert (root / "manifest.yaml").is_file()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([MANIFEST, entry("../evil.py")], r"\.\./evil\.py: path leaves the Cog-Pak"),
        ([MANIFEST, entry("src/../../evil.py")], "path leaves the Cog-Pak"),
        ([MANIFEST, entry("/tmp/mentatlab-evil.py")], "/tmp/mentatlab-evil.py: absolute path"),
        (
            [MANIFEST, entry("escape", type=tarfile.SYMTYPE, linkname="../../..")],
            r"escape: symbolic link to \.\./\.\./\.\.",
        ),
        (
            [MANIFEST, entry("passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")],
            "passwd: symbolic link to /etc/passwd",
        ),
        (
            [MANIFEST, entry("inner", type=tarfile.SYMTYPE, linkname="manifest.yaml")],
            "regular files and directories only",
        ),
        (
            [MANIFEST, entry("hard", type=tarfile.LNKTYPE, linkname="../../outside")],
            r"hard: hard link to \.\./\.\./outside",
        ),
        (
            [MANIFEST, entry("hard", type=tarfile.LNKTYPE, linkname="manifest.yaml")],
            "hard: hard link",
        ),
        ([MANIFEST, entry("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)], "device"),
        ([MANIFEST, entry("pipe", type=tarfile.FIFOTYPE)], "FIFO"),
    ],
)
def test_unsafe_members_are_refused(
    unpack: Callable[..., Path], tmp_path: Path, members: list[Member], message: str
) -> None:
    with pytest.raises(UnsafeArchiveError, match=message):
        unpack(members)
    assert not Path("/tmp/mentatlab-evil.py").exists()
    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "out" / "evil.py").exists()


def test_a_link_then_a_file_through_it_is_refused(unpack: Callable[..., Path]) -> None:
    members = [entry("d", type=tarfile.SYMTYPE, linkname=".."), entry("d/evil.py")]
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        unpack(members)


def test_a_huge_member_is_refused_before_it_is_read(tmp_path: Path) -> None:
    # A header claiming 1 TiB with no data behind it: refused on the header alone.
    header = tarfile.TarInfo("huge.bin")
    header.size = 1 << 40
    archive = tmp_path / "huge.tar.gz"
    archive.write_bytes(gzip.compress(header.tobuf(tarfile.PAX_FORMAT)))
    with pytest.raises(UnsafeArchiveError, match=r"huge\.bin: 1099511627776 bytes, over the limit"):
        unpack_cogpak(archive, tmp_path / "dest")


def test_too_many_members_are_refused(unpack: Callable[..., Path]) -> None:
    members = [MANIFEST, *(entry(f"f{index}") for index in range(5))]
    with pytest.raises(UnsafeArchiveError, match="more than 5 members"):
        unpack(members, ArchiveLimits(max_members=5))


def test_too_many_bytes_in_total_are_refused(unpack: Callable[..., Path]) -> None:
    members = [entry(f"f{index}", b"y" * 400) for index in range(3)]
    with pytest.raises(UnsafeArchiveError, match="f2: the archive holds more than 1000 bytes"):
        unpack(members, ArchiveLimits(max_total_bytes=1000))


def test_a_bomb_in_the_headers_is_refused(unpack: Callable[..., Path]) -> None:
    # Extended headers are not members' contents: the decompressed stream is bounded too.
    member, data = entry("manifest.yaml")
    member.pax_headers = {"comment": "z" * 200_000}
    with pytest.raises(UnsafeArchiveError, match="expands beyond its size limit"):
        unpack([(member, data)], ArchiveLimits(max_members=2, max_total_bytes=1000))


def test_a_file_that_is_not_an_archive_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"this is not gzip")
    with pytest.raises(CogPakError, match=r"is not a valid \.tar\.gz archive"):
        unpack_cogpak(archive, tmp_path)


def test_the_temporary_directory_is_removed(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "pak.tgz", [MANIFEST])
    with unpacked_cogpak(archive) as root:
        assert (root / "manifest.yaml").is_file()
    assert not root.exists()


def test_verifying_an_unsafe_archive_fails_cleanly(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "pak.tar.gz", [MANIFEST, entry("../evil.py")])
    check = verify_cogpak(archive, tmp_path)
    assert not check.ok
    assert (
        check.message
        == "unsafe archive pak.tar.gz: ../evil.py: path leaves the Cog-Pak ('..' or '\\')"
    )
    assert not (tmp_path / "evil.py").exists()
