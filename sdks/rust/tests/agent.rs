//! The agent side through the public API, in memory (`Agent::invoke`). The process side
//! (stdin, stdout, signals, exit statuses) is checked by the conformance suite with the
//! reference agent in conformance/agents/rust.

#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::Duration;

use mentatlab_sdk::{
    Agent, AgentError, CancelToken, Context, Event, Invocation, JsonObject, LogLevel, Pin, Status, StopSignal,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
struct ShoutInputs {
    text: String,
    times: usize,
}

#[derive(Serialize)]
struct ShoutOutputs {
    result: String,
    length: usize,
}

fn shout(ctx: &Context, inputs: ShoutInputs) -> Result<ShoutOutputs, AgentError> {
    ctx.progress_with(50, "shouting");
    let result = vec![inputs.text.to_uppercase(); inputs.times].join(" ");
    Ok(ShoutOutputs {
        length: result.len(),
        result,
    })
}

type Handler = fn(&Context, ShoutInputs) -> Result<ShoutOutputs, AgentError>;

fn shout_agent() -> Agent<Handler, ShoutInputs, ShoutOutputs> {
    Agent::new(shout as Handler)
        .input(Pin::string("text"))
        .input(Pin::number("times").with_default(1))
        .output(Pin::string("result"))
        .output(Pin::number("length"))
}

fn error_of(result: &mentatlab_sdk::InvokeResult) -> (&str, &str, bool) {
    let error = result.error.as_ref().expect("an error event");
    (error.code(), error.message(), error.retryable())
}

#[test]
fn typed_inputs_and_outputs_in_field_order() {
    let result = shout_agent().invoke(Invocation::new().input("text", "hi").input("times", 2));
    assert_eq!(result.status, Status::Succeeded);
    assert_eq!(result.exit_code, 0);
    assert_eq!(
        result.lines,
        [
            r#"{"type":"progress","percent":50,"message":"shouting"}"#,
            r#"{"type":"output","pin":"result","value":"HI HI"}"#,
            r#"{"type":"output","pin":"length","value":5}"#,
        ]
    );
    assert_eq!(Value::Object(result.outputs), json!({"result": "HI HI", "length": 5}));
    assert!(result.error.is_none());
}

#[test]
fn defaults_fill_in_and_undeclared_inputs_are_warned_about() {
    let result = shout_agent().invoke(Invocation::new().input("text", "a").input("zz", 1));
    assert_eq!(result.status, Status::Succeeded);
    assert_eq!(
        result.events[0],
        Event::Log {
            level: LogLevel::Warning,
            message: "ignoring inputs that no pin declares: zz".into()
        }
    );
    assert_eq!(result.outputs["result"], json!("A"));
}

#[test]
fn every_input_problem_at_once_not_retryable() {
    let result = shout_agent().invoke(Invocation::new().input("times", "2"));
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.exit_code, 1);
    assert_eq!(
        error_of(&result),
        (
            "missing_input",
            "required input 'text' was not given; input 'times' must be number, got string \"2\"",
            false
        )
    );
    let result = shout_agent().invoke(Invocation::new().input("text", 3));
    assert_eq!(error_of(&result).0, "invalid_input");
    // Fits the pins but not the handler's type: a fraction for a usize.
    let result = shout_agent().invoke(Invocation::new().input("text", "a").input("times", 1.5));
    let (code, message, retryable) = error_of(&result);
    assert_eq!((code, retryable), ("invalid_input", false));
    assert!(
        message.starts_with("the inputs do not fit the handler's type: "),
        "{message}"
    );
    assert_eq!(result.events.len(), 1, "the handler never ran");
}

#[test]
fn declared_outputs_are_checked() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        let which: String = ctx.param_or("which", String::new())?;
        match which.as_str() {
            "undeclared" => ctx.output("other", &1)?,
            "wrong" => ctx.output("result", &1)?,
            "ignored" => {
                let _ = ctx.output("result", &f64::NAN);
            }
            _ => ctx.output("result", "ok")?,
        }
        Ok(())
    })
    .output(Pin::string("result"));
    let run = |which: &str| agent.invoke(Invocation::new().param("which", which));
    assert_eq!(run("").status, Status::Succeeded);
    assert_eq!(
        error_of(&run("undeclared")),
        (
            "invalid_output",
            "unknown output pin 'other'; declared outputs: result",
            false
        )
    );
    assert_eq!(
        error_of(&run("wrong")),
        ("invalid_output", "output 'result' must be string, got number 1", false)
    );
    // An invalid output fails the attempt even when the handler ignores the error.
    let ignored = run("ignored");
    assert_eq!(
        error_of(&ignored),
        (
            "invalid_output",
            "output 'result' is NaN (NaN and Infinity are not JSON)",
            false
        )
    );
    assert_eq!(ignored.events.len(), 1);
}

#[test]
fn returned_values_must_be_objects_of_pins() {
    let agent = Agent::new(|_: &Context, _: JsonObject| -> Result<Vec<i32>, AgentError> { Ok(vec![1]) });
    let result = agent.invoke(Invocation::new());
    assert_eq!(error_of(&result).0, "invalid_output");
    assert!(
        error_of(&result).1.contains("returned array"),
        "{}",
        error_of(&result).1
    );

    let agent = Agent::new(|_: &Context, _: JsonObject| -> Result<Value, AgentError> { Ok(json!({"x": f64::NAN})) });
    assert_eq!(
        agent.invoke(Invocation::new()).status,
        Status::Succeeded,
        "json! turns NaN into null itself"
    );

    #[derive(Serialize)]
    struct Bad {
        score: f64,
    }
    let agent = Agent::new(|_: &Context, _: JsonObject| Ok(Bad { score: f64::INFINITY }));
    let result = agent.invoke(Invocation::new());
    assert_eq!(
        error_of(&result),
        (
            "invalid_output",
            "the handler's outputs.score is inf (NaN and Infinity are not JSON)",
            false
        )
    );
}

#[test]
fn errors_retryable_fatal_unexpected_and_panics() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        ctx.log("before");
        match ctx.param_or("kind", String::new())?.as_str() {
            "retryable" => Err(AgentError::new("busy").with_code("rate_limited")),
            "fatal" => Err(AgentError::fatal("bad config")),
            "io" => {
                std::fs::read("/nonexistent/mentatlab-sdk-test")?;
                Ok(())
            }
            "panic" => panic!("boom"),
            _ => Ok(()),
        }
    });
    let run = |kind: &str| agent.invoke(Invocation::new().param("kind", kind));
    let retryable = run("retryable");
    assert_eq!(retryable.log_messages(), ["before"]);
    assert_eq!(error_of(&retryable), ("rate_limited", "busy", true));
    assert_eq!(retryable.exit_code, 1);
    assert_eq!(error_of(&run("fatal")), ("agent_error", "bad config", false));
    let io = run("io");
    let (code, message, retryable) = error_of(&io);
    assert_eq!((code, retryable), ("unexpected_error", true));
    assert!(message.starts_with("std::io::error::Error: "), "{message}");
    assert!(io.stderr.contains("NotFound"), "details go to stderr: {}", io.stderr);
    assert_eq!(error_of(&run("panic")), ("unexpected_error", "panic: boom", true));
}

#[test]
fn every_event_type() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        ctx.log_at(LogLevel::Debug, "dbg");
        ctx.progress(12.5);
        ctx.metric("latency", 0.25);
        ctx.metric_with_unit("tokens", 812, "tokens");
        ctx.checkpoint(&json!({"next": 2}))?;
        ctx.heartbeat();
        ctx.output("line\u{2028}breaks", "a\u{2029}b\u{85}")?;
        Ok(())
    });
    let result = agent.invoke(Invocation::new());
    assert_eq!(
        result.lines,
        [
            r#"{"type":"log","level":"debug","message":"dbg"}"#,
            r#"{"type":"progress","percent":12.5}"#,
            r#"{"type":"metric","name":"latency","value":0.25}"#,
            r#"{"type":"metric","name":"tokens","value":812,"unit":"tokens"}"#,
            r#"{"type":"checkpoint","state":{"next":2}}"#,
            r#"{"type":"heartbeat"}"#,
            r#"{"type":"output","pin":"line\u2028breaks","value":"a\u2029b\u0085"}"#,
        ]
    );
    assert_eq!(result.outputs["line\u{2028}breaks"], json!("a\u{2029}b\u{85}"));
}

#[test]
fn misuse_panics_and_fails_the_attempt() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        ctx.progress(120);
        Ok(())
    });
    let result = agent.invoke(Invocation::new());
    assert_eq!(error_of(&result).0, "unexpected_error");
    assert!(error_of(&result).1.contains("between 0 and 100"));
}

#[test]
fn params_run_identity_and_resume() {
    #[derive(Deserialize, Serialize)]
    struct State {
        next: u32,
    }
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<Value, AgentError> {
        let state: Option<State> = ctx.resume_as()?;
        let limit: u32 = ctx.param_or("limit", 10)?;
        let missing: Option<bool> = ctx.param("missing")?;
        Ok(json!({
            "run": [ctx.run_id(), ctx.node_id(), ctx.attempt()],
            "next": state.map(|s| s.next),
            "limit": limit,
            "missing": missing,
        }))
    });
    let result = agent.invoke(
        Invocation::new()
            .attempt(2)
            .resume(json!({"next": 3}))
            .param("limit", 5),
    );
    assert_eq!(
        Value::Object(result.outputs),
        json!({"run": ["run-test", "node-test", 2], "next": 3, "limit": 5, "missing": null})
    );
    let bad = agent.invoke(Invocation::new().param("limit", "many"));
    let (code, message, retryable) = error_of(&bad);
    assert_eq!((code, retryable), ("invalid_param", false));
    assert!(
        message.starts_with("param 'limit': invalid type: string \"many\""),
        "{message}"
    );
    let bad_state = agent.invoke(Invocation::new().resume(json!({"next": "x"})));
    assert_eq!(error_of(&bad_state).0, "unexpected_error");
}

#[test]
fn invalid_envelopes_exit_2() {
    let result = shout_agent().invoke_stdin(
        b"{\"run\": {\"id\": \"r\", \"node\": \"n\", \"attempt\": \"1\"}}",
        CancelToken::new(),
    );
    assert_eq!(result.exit_code, 2);
    assert_eq!(result.status, Status::Failed);
    assert_eq!(
        error_of(&result),
        (
            "invalid_envelope",
            "invalid input envelope: run.attempt: must be an integer >= 1, got string \"1\"",
            false
        )
    );
    assert_eq!(result.events.len(), 1);
}

#[test]
fn cancellation_cleans_up_then_reports_cancelled() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<Value, AgentError> {
        ctx.log("waiting");
        ctx.cancel_token().wait();
        ctx.checkpoint(&json!({"stopped": true}))?;
        if ctx.param_or("swallow", false)? {
            return Ok(json!({"late": true})); // never counts
        }
        ctx.check_cancelled()?;
        Ok(Value::Null)
    });
    for swallow in [false, true] {
        let token = CancelToken::new();
        let stopper = {
            let token = token.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                token.cancel(StopSignal::Interrupt);
            })
        };
        let result = agent.invoke(Invocation::new().param("swallow", swallow).cancel(token));
        stopper.join().unwrap();
        assert_eq!(result.status, Status::Cancelled);
        assert_eq!(result.exit_code, 130);
        assert_eq!(
            result.lines,
            [
                r#"{"type":"log","level":"info","message":"waiting"}"#,
                r#"{"type":"checkpoint","state":{"stopped":true}}"#,
                r#"{"type":"error","code":"cancelled","message":"stopped by SIGINT","retryable":true}"#,
            ]
        );
        assert!(result.outputs.is_empty());
    }
}

#[test]
fn sleep_and_check_are_interrupted() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        loop {
            ctx.sleep(Duration::from_secs(60))?;
        }
    });
    let token = CancelToken::new();
    token.cancel(StopSignal::Terminate);
    let result = agent.invoke(Invocation::new().cancel(token));
    // Cancelled before the handler started: it never runs.
    assert_eq!((result.status, result.exit_code), (Status::Cancelled, 143));
    assert_eq!(result.events.len(), 1);
}

fn heartbeat_count(events: &[Event]) -> usize {
    events.iter().filter(|event| **event == Event::Heartbeat).count()
}

#[test]
fn automatic_heartbeats_while_the_handler_runs_none_after() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        thread::sleep(Duration::from_millis(200));
        ctx.log("done");
        Ok(())
    })
    .heartbeat(Duration::from_millis(20));
    let result = agent.invoke(Invocation::new());
    assert_eq!(result.status, Status::Succeeded);
    assert!(heartbeat_count(&result.events) >= 3, "{:?}", result.lines);
    assert_eq!(
        result.events.last(),
        Some(&Event::Log {
            level: LogLevel::Info,
            message: "done".into()
        })
    );
}

#[test]
fn block_heartbeats() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        ctx.log("before");
        let value = ctx.with_heartbeats(Duration::from_millis(20), || {
            thread::sleep(Duration::from_millis(200));
            7
        });
        ctx.log(format!("after {value}"));
        thread::sleep(Duration::from_millis(100));
        Ok(())
    });
    let result = agent.invoke(Invocation::new());
    let events = &result.events;
    assert!(heartbeat_count(events) >= 3, "{:?}", result.lines);
    assert_eq!(
        events.first(),
        Some(&Event::Log {
            level: LogLevel::Info,
            message: "before".into()
        })
    );
    assert_eq!(
        events.last(),
        Some(&Event::Log {
            level: LogLevel::Info,
            message: "after 7".into()
        })
    );
}

#[test]
fn the_context_is_shared_with_scoped_threads() {
    let agent = Agent::new(|ctx: &Context, _: JsonObject| -> Result<(), AgentError> {
        thread::scope(|scope| {
            for i in 0..4 {
                scope.spawn(move || ctx.metric(format!("m{i}"), i));
            }
        });
        Ok(())
    });
    assert_eq!(agent.invoke(Invocation::new()).events.len(), 4);
}

#[test]
#[should_panic(expected = "input pin 'n': default must be number")]
fn invalid_declarations_panic() {
    let agent = Agent::new(|_: &Context, _: JsonObject| Ok(())).input(Pin::number("n").with_default("x"));
    agent.invoke(Invocation::new());
}
