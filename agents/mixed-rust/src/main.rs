//! mentatlab.mixed-rust: the Rust step of examples/mixed.flow.yaml.

use mentatlab_sdk::{Agent, AgentError, Context, Pin};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Inputs {
    /// word → occurrences, most frequent first (the order the Node.js step wrote).
    counts: Map<String, Value>,
    trail: Vec<String>,
}

#[derive(Serialize)]
struct Outputs {
    summary: String,
    trail: Vec<String>,
}

fn handle(ctx: &Context, inputs: Inputs) -> Result<Outputs, AgentError> {
    let total: u64 = inputs.counts.values().filter_map(Value::as_u64).sum();
    let summary = match inputs.counts.iter().next() {
        Some((word, count)) => format!(
            "{total} words, {} distinct; most frequent: {word} ({count})",
            inputs.counts.len()
        ),
        None => "no words".to_string(),
    };
    ctx.log(format!("rust: {summary}"));
    let mut trail = inputs.trail;
    trail.push("rust".to_string());
    Ok(Outputs { summary, trail })
}

fn main() {
    Agent::new(handle)
        .input(Pin::json("counts"))
        .input(Pin::json("trail"))
        .output(Pin::string("summary"))
        .output(Pin::json("trail"))
        .run()
}
