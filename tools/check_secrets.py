"""Fail when one of the files named holds a potential secret ``.secrets.baseline`` does not list.

``make lint`` runs it over ``git ls-files`` from the repository root. Unlike
``detect-secrets-hook``, it compares by file, secret hash and type only, so editing lines
above a reviewed false positive does not fail the build. A new finding is either a real
secret (remove it) or a false positive: mark the line ``# pragma: allowlist secret``, or
refresh the baseline with ``detect-secrets scan --baseline .secrets.baseline`` and review it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline

BASELINE = ".secrets.baseline"


def main(names: list[str]) -> int:
    files = [name for name in names if Path(name).is_file()]  # a deleted file is still listed
    reviewed = baseline.load(baseline.load_from_file(BASELINE), BASELINE)
    found = SecretsCollection()
    found.scan_files(*files, num_processors=1)
    new = [
        (name, secret)
        for name, secrets in (found - reviewed).data.items()
        for secret in sorted(secrets, key=lambda s: s.line_number)
    ]
    for name, secret in new:
        print(f"{name}:{secret.line_number}: potential secret ({secret.type})")
    if new:
        print(f"{len(new)} potential secret(s) not in {BASELINE}; see tools/check_secrets.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
