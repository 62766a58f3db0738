"""A scripted handler: every event type, stray output, unicode; fails when params.fail."""

from mentatlab.sdk import AgentError, Context, agent


@agent
def main(ctx: Context, text: str) -> dict[str, object]:
    ctx.log("starting")
    ctx.log("careful", "warning")
    ctx.progress(25, "reading")
    ctx.heartbeat()
    ctx.metric("tokens", 1532, "tokens")
    ctx.metric("ratio", 0.25)
    ctx.checkpoint({"chunk": 4, "done": ["a", None, True]})
    ctx.output("partial", {"n": 1.5, "list": [], "empty": {}})
    print("a stray print")
    if ctx.param("fail", False):
        raise AgentError("provider said 429", code="rate_limited", retryable=False)
    ctx.progress(100)
    return {"result": f'{text.upper()} \u2013 ünïcödé 🌍 \u2028 \u0085 \x01 "quoted"'}


if __name__ == "__main__":
    main.run()
