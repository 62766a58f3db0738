"""``--secrets-file``: where a local run (or a server's runs) find ``runConfig.secrets``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import err_console, fail
from mentatlab.engine.secrets import (
    SECRETS_FILE_ENV,
    EnvironmentSecrets,
    SecretsFileError,
    SecretSource,
    chain_sources,
    load_secrets_file,
)

__all__ = ["SecretsFileOption", "secret_source"]

SecretsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--secrets-file",
        help=f"YAML mapping or NAME=value lines holding the flow's secrets (mode 0600); "
        f"default ${SECRETS_FILE_ENV}; then $MENTATLAB_SECRET_<NAME>",
    ),
]


def secret_source(secrets_file: Path | None) -> SecretSource:
    """The file (``--secrets-file``, else ``$MENTATLAB_SECRETS_FILE``) first, then the
    environment. Warns about a file other users can read; exits 2 on an unusable one."""
    path = secrets_file or (Path(value) if (value := os.environ.get(SECRETS_FILE_ENV)) else None)
    if path is None:
        return EnvironmentSecrets()
    try:
        from_file, warnings = load_secrets_file(path)
    except SecretsFileError as exc:
        fail(str(exc))
    for warning in warnings:
        err_console.print(f"mentatctl: warning: {warning}", markup=False, soft_wrap=True)
    return chain_sources(from_file, EnvironmentSecrets())
