"""``mentatctl keys generate`` and ``mentatctl agent sign|verify|pack``: signed Cog-Paks.

See ``docs/security.md`` ("Signed Cog-Paks") for what is signed and how keys are trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import EXIT_FAILED, OutputFormat, console, fail, print_json
from mentatlab.validation.archives import ARCHIVE_SUFFIXES, pack_cogpak
from mentatlab.validation.cogpak_files import CogPakError
from mentatlab.validation.signing import (
    SigningKeyError,
    generate_keypair,
    sign_cogpak,
    verify_cogpak,
)

__all__ = ["keys_app", "pack", "sign", "verify"]

keys_app = typer.Typer(help="Create Ed25519 keys that sign Cog-Paks.", no_args_is_help=True)

Output = Annotated[OutputFormat, typer.Option(help="text or json")]
CogPak = Annotated[
    Path,
    typer.Argument(help="a Cog-Pak directory or .tar.gz archive", exists=True, readable=True),
]


@keys_app.command("generate")
def generate(
    name: Annotated[str, typer.Argument(help="key name, e.g. acme-release")],
    directory: Annotated[
        Path, typer.Option("--dir", help="where to write NAME.key and NAME.pub", file_okay=False)
    ],
    output: Output = OutputFormat.TEXT,
) -> None:
    """Write DIR/NAME.key (private, mode 0600) and DIR/NAME.pub; never overwrite a key."""
    try:
        key = generate_keypair(name, directory)
    except SigningKeyError as exc:
        fail(str(exc), EXIT_FAILED)
    if output is OutputFormat.JSON:
        print_json(key.to_json())
        return
    for line in (
        f"created key {key.name} ({key.key_id})",
        f"  private: {key.private_path} (keep it secret: it signs)",
        f"  public:  {key.public_path} (copy it into the trust stores that accept this key)",
    ):
        console.print(line, markup=False, soft_wrap=True)


def sign(
    path: CogPak,
    key: Annotated[
        Path,
        typer.Option(
            "--key", help="private key (NAME.key)", exists=True, dir_okay=False, readable=True
        ),
    ],
    output: Output = OutputFormat.TEXT,
) -> None:
    """Sign a Cog-Pak: every file, manifest included, into its cogpak.sig.

    A .tar.gz archive is rewritten with the signature inside. Sign the tree you ship: any
    later change to it, building included, invalidates the signature.
    """
    try:
        signed = sign_cogpak(path, key)
    except (SigningKeyError, CogPakError) as exc:
        fail(f"cannot sign {path}: {exc}", EXIT_FAILED)
    if output is OutputFormat.JSON:
        print_json(signed.to_json())
        return
    console.print(
        f"signed {path}: {signed.files} file(s), digest {signed.digest}, key {signed.key_id}",
        style="green",
        markup=False,
        soft_wrap=True,
    )


def verify(
    path: CogPak,
    trust: Annotated[
        Path, typer.Option("--trust", help="trust store: a directory of public keys (*.pub)")
    ],
    output: Output = OutputFormat.TEXT,
) -> None:
    """Check a Cog-Pak's signature: exit 0 when a trusted key signed it as it is, 1 otherwise."""
    check = verify_cogpak(path, trust)
    if output is OutputFormat.JSON:
        print_json({"path": str(path)} | check.to_json())
    else:
        console.print(
            f"{path}: {check.message}",
            style="green" if check.ok else "bold red",
            markup=False,
            soft_wrap=True,
        )
    if not check.ok:
        raise typer.Exit(EXIT_FAILED)


def pack(
    path: Annotated[Path, typer.Argument(help="a Cog-Pak directory", exists=True, file_okay=False)],
    archive: Annotated[Path, typer.Option("--archive", "-o", help="the .tar.gz to write")],
) -> None:
    """Write a Cog-Pak directory, signature included, to a reproducible .tar.gz archive."""
    if not archive.name.endswith(ARCHIVE_SUFFIXES):
        fail(f"{archive}: the archive name must end in .tar.gz or .tgz")
    try:
        files = pack_cogpak(path, archive)
    except CogPakError as exc:
        fail(f"cannot pack {path}: {exc}", EXIT_FAILED)
    console.print(f"packed {path} into {archive}: {files} file(s)", markup=False)
