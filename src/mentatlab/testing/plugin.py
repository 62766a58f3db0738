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
    from mentatlab.testing.result import CogPakResult

__all__ = ["CogPakRunner", "run_cogpak"]


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


# The flow half of the toolkit (a ``run_flow`` fixture that runs a flow file through the
# engine and returns the run's events) belongs here, next to ``run_cogpak``.
