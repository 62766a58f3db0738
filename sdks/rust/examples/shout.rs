//! The getting-started agent of docs/sdk-rust.md: upper-cases `text`, `times` times.
//!
//! ```console
//! $ echo '{"run": {"id": "r1", "node": "n1", "attempt": 1}, "inputs": {"text": "hi", "times": 2}}' \
//!     | cargo run -q --example shout
//! {"type":"progress","percent":50,"message":"shouting"}
//! {"type":"output","pin":"result","value":"HI HI"}
//! ```

use mentatlab_sdk::{Agent, AgentError, Context, FnAgent, Pin};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Inputs {
    text: String,
    times: usize,
}

#[derive(Serialize)]
struct Outputs {
    result: String,
}

fn shout(ctx: &Context, inputs: Inputs) -> Result<Outputs, AgentError> {
    ctx.progress_with(50, "shouting");
    Ok(Outputs {
        result: vec![inputs.text.to_uppercase(); inputs.times].join(" "),
    })
}

/// The agent: its pins and handler (a function of its own, so that tests can use it too).
fn agent() -> FnAgent<Inputs, Outputs> {
    Agent::new(shout as _)
        .input(Pin::string("text"))
        .input(Pin::number("times").with_default(1))
        .output(Pin::string("result"))
}

fn main() {
    agent().run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mentatlab_sdk::{serde_json::json, Invocation, Status};

    #[test]
    fn shouts() {
        let result = agent().invoke(Invocation::new().input("text", "hi").input("times", 2));
        assert_eq!(result.status, Status::Succeeded);
        assert_eq!(result.outputs["result"], json!("HI HI"));
    }

    #[test]
    fn text_is_required() {
        let result = agent().invoke(Invocation::new().input("times", 2));
        assert_eq!(
            result.error.map(|e| e.code().to_owned()).as_deref(),
            Some("missing_input")
        );
    }
}
