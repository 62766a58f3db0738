"""pytest plugin (entry point ``mentatlab``): fixtures for testing Cog-Paks.

Loaded in every pytest session of every project that installs MentatLab, so it imports only
pytest and the standard library at load time; the runner is imported when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mentatlab.testing.flows import FlowResult
    from mentatlab.testing.result import CogPakResult

__all__ = ["CogPakRunner", "FlowRunner", "run_cogpak", "run_flow"]


class CogPakRunner:
    """The ``run_cogpak`` fixture: :func:`mentatlab.testing.run_cogpak` bound to a test file.

    A relative ``cogpak`` path is resolved against the test file's directory; without one, the
    nearest directory at or above the test file that holds a ``manifest.yaml`` is run, so a
    Cog-Pak's own ``tests/test_x.py`` just calls ``run_cogpak(inputs=...)``.
    """

    def __init__(self, test_dir: Path) -> None:
        self._test_dir = test_dir

    def locate(self, cogpak: str | Path | None = None) -> Path:
        if cogpak is not None:
            return self._test_dir / cogpak
        for directory in (self._test_dir, *self._test_dir.parents):
            if (directory / "manifest.yaml").is_file():
                return directory
        raise FileNotFoundError(f"no manifest.yaml in {self._test_dir} or any parent directory")

    def __call__(
        self,
        cogpak: str | Path | None = None,
        inputs: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> CogPakResult:
        """Run the Cog-Pak; ``options`` are those of :func:`mentatlab.testing.run_cogpak`."""
        from mentatlab.testing.cogpak import run_cogpak

        return run_cogpak(self.locate(cogpak), inputs, params, **options)


@pytest.fixture
def run_cogpak(request: pytest.FixtureRequest) -> CogPakRunner:
    """Run a Cog-Pak as one node attempt and return a :class:`CogPakResult` to assert on."""
    return CogPakRunner(request.path.parent)


class FlowRunner:
    """The ``run_flow`` fixture: :func:`mentatlab.testing.run_flow` bound to a test.

    A relative flow path is resolved against the test file's directory, and the run is
    recorded in a store inside the test's ``tmp_path``.
    """

    def __init__(self, test_dir: Path, home: Path) -> None:
        self._test_dir = test_dir
        self._home = home

    def __call__(
        self, flow: str | Path, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> FlowResult:
        """Run the flow; ``options`` are those of :func:`mentatlab.testing.run_flow`."""
        from mentatlab.testing.flows import run_flow

        options.setdefault("home", self._home)
        return run_flow(self._test_dir / flow, inputs, **options)


@pytest.fixture
def run_flow(request: pytest.FixtureRequest, tmp_path: Path) -> FlowRunner:
    """Run a flow through the local engine and return a :class:`FlowResult` to assert on."""
    return FlowRunner(request.path.parent, tmp_path / "mentatlab-home")
