"""The v1 wire format, byte for byte: a change that breaks v1 agents or clients fails here.

Each file in ``files/`` is what one case of ``golden_cases.py`` produces. When a test fails,
the change it found alters the protocol: read README.md before updating the files.
"""

from __future__ import annotations

import difflib

import pytest
from golden_cases import CASES, FILES


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    expected = (FILES / name).read_bytes()
    actual = CASES[name]()
    if actual != expected:
        diff = difflib.unified_diff(
            expected.decode(errors="replace").split("\n"),
            actual.decode(errors="replace").split("\n"),
            f"golden/{name}",
            "now",
            lineterm="",
        )
        pytest.fail(
            f"the v1 wire format changed ({name}):\n"
            + "\n".join(diff)
            + "\n\nIf this is intended, it is a protocol change: see tests/golden/README.md and "
            "docs/compatibility.md, then run `.venv/bin/python tests/golden/update.py`.",
            pytrace=False,
        )


def test_every_golden_file_has_a_case() -> None:
    assert {path.name for path in FILES.iterdir()} == set(CASES)
