"""Rewrite the golden files: ``.venv/bin/python tests/golden/update.py [NAME...]``.

Only for an intended change of the wire format, which is a protocol change (README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from golden_cases import CASES, FILES


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"no golden case named {', '.join(unknown)}; cases: {', '.join(CASES)}")
        return 2
    FILES.mkdir(exist_ok=True)
    for name in names or CASES:
        path = FILES / name
        content = CASES[name]()
        old = path.read_bytes() if path.exists() else None
        if content != old:
            path.write_bytes(content)
        print(f"{'unchanged' if content == old else 'wrote'} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
