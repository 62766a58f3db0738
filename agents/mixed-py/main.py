"""mentatlab.mixed-py: the Python step of examples/mixed.flow.yaml."""

from __future__ import annotations

import re

from mentatlab.sdk import Context, agent


@agent
def main(ctx: Context, text: str) -> dict[str, object]:
    words = re.findall(r"[\w']+", text.lower())
    ctx.log(f"python: {len(words)} words")
    return {"words": words, "trail": ["python"]}


if __name__ == "__main__":
    main.run()
