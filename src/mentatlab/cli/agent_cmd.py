"""``mentatctl agent init``: scaffold a Cog-Pak that validates and runs at once.

Python agents use the SDK of the MentatLab running them. The Node.js and Rust SDKs are not
on their registries yet, so those Cog-Paks depend on a MentatLab checkout's ``sdks/node`` or
``sdks/rust`` by path: ``MENTATLAB_SDK_NODE``/``MENTATLAB_SDK_RUST``, else the checkout this
MentatLab is installed from. Their ``run.sh`` builds them on first run (see the templates).
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

import mentatlab
from mentatlab.cli.common import console, fail
from mentatlab.cli.signing_cmd import pack, sign, verify

__all__ = ["app"]

app = typer.Typer(help="Create and manage Cog-Paks.", no_args_is_help=True)

_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")


class Language(StrEnum):
    PYTHON = "python"
    NODE = "node"
    RUST = "rust"


_SDK_MARKER = {Language.NODE: "package.json", Language.RUST: "Cargo.toml"}
"""The file that makes a directory the SDK of a language that needs one by path."""


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
    templates = resources.files("mentatlab.cli") / "templates"
    slug = re.sub(r"[^a-z0-9]+", "_", name.split(".")[-1])
    values = {"agent_id": name, "slug": slug, "crate": name.replace(".", "-").replace("_", "-")}
    if lang in _SDK_MARKER:
        values["sdk_path"] = _sdk_path(lang, target)
    written = _copy(templates / "common", target, values)
    written += _copy(templates / lang.value, target, values)
    console.print(f"created Cog-Pak {name} in {target}/", markup=False)
    for path in written:
        console.print(f"  {path}", markup=False)
    console.print(
        f"next: mentatctl validate {target} && mentatctl run {target / 'example.flow.yaml'}",
        markup=False,
    )
    if lang in _SDK_MARKER:
        console.print("(its first run installs and builds it: see run.sh)", markup=False)


app.command("pack")(pack)
app.command("sign")(sign)
app.command("verify")(verify)


def _sdk_path(lang: Language, target: Path) -> str:
    """Where the Cog-Pak finds its SDK: relative when both are in one checkout."""
    variable = f"MENTATLAB_SDK_{lang.value.upper()}"
    configured = os.environ.get(variable)
    # An editable install runs from the checkout: src/mentatlab/__init__.py -> repository.
    checkout = Path(mentatlab.__file__).resolve().parents[2]
    sdk = Path(configured) if configured else checkout / "sdks" / lang.value
    if not (sdk / _SDK_MARKER[lang]).is_file():
        where = f"{variable}={configured}" if configured else f"{sdk} (this MentatLab's checkout)"
        fail(
            f"the {lang.value} SDK is not published yet, and there is none at {where}: "
            f"set {variable} to the sdks/{lang.value} directory of a MentatLab checkout"
        )
    sdk, here = sdk.resolve(), target.resolve()
    if here.is_relative_to(sdk.parents[1]):
        return os.path.relpath(sdk, here)
    return str(sdk)


def _copy(source: resources.abc.Traversable, target: Path, values: dict[str, str]) -> list[Path]:
    """Copy ``source`` into ``target``; ``*.tmpl`` files (and names) get ``values`` filled in."""
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
        text = entry.read_text(encoding="utf-8")
        if entry.name.endswith(".tmpl"):
            text = Template(text).substitute(values)
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    return written
