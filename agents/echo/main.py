"""mentatlab.echo: echoes its input, prefixed with ``params.prompt`` when one is given."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from mentatlab.sdk import Context, agent


class Outputs(TypedDict):
    result: str


@agent
def main(ctx: Context, text: Any = None) -> Outputs:
    prompt = ctx.param("prompt", "")
    if text is None:
        return {"result": prompt}
    rendered = (
        text
        if isinstance(text, str)
        else json.dumps(text, separators=(",", ":"), ensure_ascii=False)
    )
    return {"result": f"{prompt}: {rendered}" if prompt else rendered}


if __name__ == "__main__":
    main.run()
