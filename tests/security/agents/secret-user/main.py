"""Leaks API_TOKEN (and PEM_KEY when given) through every channel an agent has; fails when
params.fail, reporting the token in its error."""

import json
import sys

from mentatlab.sdk import AgentError, Context, agent


@agent
def main(ctx: Context, text: str) -> dict[str, object]:
    token = ctx.secret("API_TOKEN")
    ctx.log(f"the token is {token}")
    ctx.log(json.dumps({"config": {"token": token}}))  # the JSON-escaped form
    ctx.progress(50, f"calling the API with {token}")
    ctx.metric("calls", 1, unit=token)
    ctx.checkpoint({"token": token})
    print(f"a stray print of {token}")
    print(f"stderr: {token}", file=sys.stderr, flush=True)
    if ctx.param("pem", False):
        print(ctx.secret("PEM_KEY"), file=sys.stderr, flush=True)  # one log line per PEM line
    ctx.output("leak", {"token": token, token: [token]})
    if ctx.param("fail", False):
        raise AgentError(f"the API refused {token}", code="refused", retryable=False)
    return {"result": f"{text}<{token}>"}


if __name__ == "__main__":
    main.run()
