"""``mentatctl agent init``: scaffold a Cog-Pak that validates and runs at once."""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from mentatlab.cli.common import console, fail

__all__ = ["app"]

app = typer.Typer(help="Create and manage Cog-Paks.", no_args_is_help=True)

_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")


class Language(StrEnum):
    PYTHON = "python"


@app.command("init")
def init(
    name: Annotated[str, typer.Argument(help="agent id, e.g. acme.summarize or summarize")],
    lang: Annotated[Language, typer.Option(help="language of the agent")] = Language.PYTHON,
    directory: Annotated[
        Path, typer.Option("--dir", help="where to create the Cog-Pak directory NAME")
    ] = Path("agents"),
) -> None:
    """Create DIR/NAME: manifest.yaml, the agent, its tests and an example flow."""
    if not _NAME.match(name):
        fail(
            f"agent name {name!r}: use lowercase letters, digits, '-', '_', dot-separated "
            "(e.g. acme.summarize)"
        )
    target = directory / name
    if target.exists():
        fail(f"{target} already exists; choose another name or --dir")
    template = resources.files("mentatlab.cli") / "templates" / lang.value
    values = {"agent_id": name, "slug": re.sub(r"[^a-z0-9]+", "_", name.split(".")[-1])}
    written = _copy(template, target, values)
    console.print(f"created Cog-Pak {name} in {target}/", markup=False)
    for path in written:
        console.print(f"  {path}", markup=False)
    console.print(
        f"next: mentatctl validate {target} && mentatctl run {target / 'example.flow.yaml'}",
        markup=False,
    )


def _copy(source: resources.abc.Traversable, target: Path, values: dict[str, str]) -> list[Path]:
    written: list[Path] = []
    for entry in sorted(source.iterdir(), key=lambda item: item.name):
        if entry.name.startswith("__"):
            continue
        name = Template(entry.name.removesuffix(".tmpl")).substitute(values)
        destination = target / name
        if entry.is_dir():
            written += _copy(entry, destination, values)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(
            Template(entry.read_text(encoding="utf-8")).substitute(values), encoding="utf-8"
        )
        written.append(destination)
    return written
