//! Reference agent of the Rust SDK for the conformance vectors.
//!
//! Implements the contract in conformance/README.md with `mentatlab-sdk`: the variant comes
//! from `CONFORMANCE_AGENT` (default, typed, heartbeat), the behaviour from `params.action`.

use std::time::Duration;

use mentatlab_sdk::{Agent, AgentError, Context, JsonObject, LogLevel, Pin};
use serde::Deserialize;
use serde_json::{json, Value};

const ENV_NAMES: [&str; 4] = ["MENTAT_PROTOCOL", "MENTAT_RUN_ID", "MENTAT_NODE_ID", "MENTAT_ATTEMPT"];

/// One step of the `script` action.
#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Step {
    Log {
        message: String,
        level: Option<LogLevel>,
    },
    Progress {
        percent: f64,
        message: Option<String>,
    },
    Heartbeat,
    Metric {
        name: String,
        value: f64,
        unit: Option<String>,
    },
    Checkpoint {
        state: Value,
    },
    Output {
        pin: String,
        value: Value,
    },
    Print {
        text: String,
    },
    Stderr {
        text: String,
    },
    Sleep {
        seconds: f64,
    },
    Heartbeats {
        every: f64,
        seconds: f64,
    },
    Repeat {
        times: u64,
        steps: Vec<Value>,
    },
    WaitForCancel {
        message: String,
        #[serde(default)]
        then: Vec<Value>,
        #[serde(default)]
        swallow: bool,
    },
    Fail {
        message: String,
        code: Option<String>,
        retryable: Option<bool>,
    },
    Fatal {
        message: String,
        code: Option<String>,
    },
    Crash {
        message: String,
    },
}

const STEP_NAMES: [&str; 15] = [
    "log",
    "progress",
    "heartbeat",
    "metric",
    "checkpoint",
    "output",
    "print",
    "stderr",
    "sleep",
    "heartbeats",
    "repeat",
    "wait_for_cancel",
    "fail",
    "fatal",
    "crash",
];

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

fn run_steps(ctx: &Context, steps: &[Value]) -> Result<(), AgentError> {
    steps.iter().try_for_each(|step| run_step(ctx, step))
}

fn run_step(ctx: &Context, step: &Value) -> Result<(), AgentError> {
    let name = step.get("do").and_then(Value::as_str).unwrap_or_default();
    if !STEP_NAMES.contains(&name) {
        return Err(AgentError::fatal(format!("unknown step {}", json!(step.get("do")))).with_code("unknown_step"));
    }
    let step = Step::deserialize(step)
        .map_err(|error| AgentError::fatal(format!("invalid step {step}: {error}")).with_code("invalid_step"))?;
    match step {
        Step::Log { message, level: None } => ctx.log(message),
        Step::Log {
            message,
            level: Some(level),
        } => ctx.log_at(level, message),
        Step::Progress { percent, message: None } => ctx.progress(percent),
        Step::Progress {
            percent,
            message: Some(message),
        } => ctx.progress_with(percent, message),
        Step::Heartbeat => ctx.heartbeat(),
        Step::Metric {
            name,
            value,
            unit: None,
        } => ctx.metric(name, value),
        Step::Metric {
            name,
            value,
            unit: Some(unit),
        } => ctx.metric_with_unit(name, value, unit),
        Step::Checkpoint { state } => ctx.checkpoint(&state)?,
        Step::Output { pin, value } => ctx.output(&pin, &value)?,
        Step::Print { text } => println!("{text}"),
        Step::Stderr { text } => eprintln!("{text}"),
        // Deliberately deaf to cancellation: the SDK must end the attempt anyway.
        Step::Sleep { seconds: s } => std::thread::sleep(seconds(s)),
        Step::Heartbeats { every, seconds: s } => {
            ctx.with_heartbeats(seconds(every), || ctx.cancel_token().wait_timeout(seconds(s)));
        }
        Step::Repeat { times, steps } => {
            for _ in 0..times {
                run_steps(ctx, &steps)?;
            }
        }
        Step::WaitForCancel { message, then, swallow } => {
            ctx.log(message);
            ctx.cancel_token().wait();
            run_steps(ctx, &then)?;
            if !swallow {
                ctx.check_cancelled()?;
            }
        }
        Step::Fail {
            message,
            code,
            retryable,
        } => {
            let error = AgentError::new(message).with_retryable(retryable.unwrap_or(true));
            return Err(match code {
                Some(code) => error.with_code(code),
                None => error,
            });
        }
        Step::Fatal { message, code } => {
            let error = AgentError::fatal(message);
            return Err(match code {
                Some(code) => error.with_code(code),
                None => error,
            });
        }
        Step::Crash { message } => Err(std::io::Error::other(message))?,
    }
    Ok(())
}

/// The default handler: `params.action` decides.
fn handle(ctx: &Context, inputs: JsonObject) -> Result<Value, AgentError> {
    let action: String = ctx.param_or("action", "echo".to_owned())?;
    match action.as_str() {
        "echo" => {
            // Code point order (= UTF-8 byte order, which is how Rust orders strings).
            let mut names: Vec<&String> = inputs.keys().collect();
            names.sort();
            for name in names {
                ctx.output(name, &inputs[name])?;
            }
            Ok(Value::Null)
        }
        "describe" => {
            let env: JsonObject = ENV_NAMES
                .iter()
                .map(|name| (name.to_string(), std::env::var(name).map_or(Value::Null, Value::from)))
                .collect();
            Ok(json!({
                "run": {"id": ctx.run_id(), "node": ctx.node_id(), "attempt": ctx.attempt()},
                "inputs": ctx.inputs(),
                "params": ctx.params(),
                "resume": ctx.resume(),
                "env": env,
            }))
        }
        "script" => {
            let steps: Vec<Value> = ctx.param_or("steps", Vec::new())?;
            run_steps(ctx, &steps)?;
            Ok(ctx.params().get("returns").cloned().unwrap_or(Value::Null))
        }
        "resume" => {
            let total: u64 = ctx
                .param("total")?
                .ok_or_else(|| AgentError::fatal("params.total is required"))?;
            resume(ctx, total, ctx.param("fail_at")?)
        }
        "big_output" => {
            let unit: String = ctx.param_or("unit", String::new())?;
            let times: usize = ctx.param_or("times", 0)?;
            Ok(json!({"data": unit.repeat(times)}))
        }
        other => Err(AgentError::fatal(format!("unknown action {}", json!(other))).with_code("unknown_action")),
    }
}

#[derive(Deserialize)]
struct ResumeState {
    next: u64,
}

fn resume(ctx: &Context, total: u64, fail_at: Option<u64>) -> Result<Value, AgentError> {
    let start = ctx.resume_as::<ResumeState>()?.map_or(0, |state| state.next);
    ctx.log(format!("starting at {start}"));
    for i in start..total {
        ctx.checkpoint(&json!({"next": i + 1}))?;
        ctx.progress(100.0 * (i + 1) as f64 / total as f64);
        if fail_at == Some(i + 1) {
            return Err(AgentError::new(format!("interrupted after {}", i + 1)).with_code("interrupted"));
        }
    }
    Ok(json!({"done": total, "resumed_from": start}))
}

#[derive(Deserialize)]
struct TypedInputs {
    text: String,
    count: usize,
}

/// Returns a map rather than a struct: it is deliberately wrong when asked to be.
fn typed(ctx: &Context, inputs: TypedInputs) -> Result<JsonObject, AgentError> {
    let mut outputs = JsonObject::new();
    outputs.insert("result".into(), vec![inputs.text; inputs.count].join(" ").into());
    if ctx.param_or("wrong_type", false)? {
        outputs.insert("result".into(), 42.into());
    }
    if ctx.param_or("undeclared", false)? {
        outputs.insert("undeclared".into(), true.into());
    }
    Ok(outputs)
}

fn main() {
    let variant = std::env::var("CONFORMANCE_AGENT").unwrap_or_else(|_| "default".to_owned());
    match variant.as_str() {
        "default" => Agent::new(handle).run(),
        "heartbeat" => Agent::new(handle).heartbeat(Duration::from_millis(50)).run(),
        "typed" => Agent::new(typed)
            .input(Pin::string("text"))
            .input(Pin::number("count").with_default(1))
            .output(Pin::string("result"))
            .run(),
        other => {
            eprintln!("unknown CONFORMANCE_AGENT {other:?}: expected default, heartbeat or typed");
            std::process::exit(1);
        }
    }
}
