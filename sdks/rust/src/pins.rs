//! Pins declared in code, checked against the values that arrive.
//!
//! Pin types are the manifest's (`schemas/agent-manifest.v1.schema.json`). Values arrive as
//! JSON, so checks are light: `string`, `number` and `boolean` pins check the JSON type; every
//! other type accepts any JSON value. Nothing is ever converted.

use std::fmt;

use serde_json::Value;

use crate::json::{describe_value, JsonObject};

/// A pin type of the agent manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinType {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Boolean,
    /// Any JSON value.
    Json,
    /// Any JSON value (by convention a reference to binary data).
    Binary,
    /// Any JSON value (audio).
    Audio,
    /// Any JSON value (an image).
    Image,
    /// Any JSON value (video).
    Video,
    /// Any JSON value (a stream).
    Stream,
}

impl PinType {
    /// The manifest's name of the type: `string`, `number`, …
    pub fn as_str(self) -> &'static str {
        match self {
            PinType::String => "string",
            PinType::Number => "number",
            PinType::Boolean => "boolean",
            PinType::Json => "json",
            PinType::Binary => "binary",
            PinType::Audio => "audio",
            PinType::Image => "image",
            PinType::Video => "video",
            PinType::Stream => "stream",
        }
    }

    /// Why `value` does not fit a pin of this type, or `None` when it does.
    pub fn problem(self, value: &Value) -> Option<String> {
        let fits = match self {
            PinType::String => value.is_string(),
            PinType::Number => value.is_number(),
            PinType::Boolean => value.is_boolean(),
            _ => true,
        };
        (!fits).then(|| format!("must be {self}, got {}", describe_value(value)))
    }
}

impl fmt::Display for PinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared input or output pin.
///
/// ```
/// use mentatlab_sdk::{Pin, PinType};
///
/// let text = Pin::new("text", PinType::String);          // required
/// let times = Pin::number("times").with_default(1);        // optional, defaults to 1
/// let style = Pin::string("style").optional();             // optional, absent when not given
/// assert!(text.is_required() && !times.is_required() && !style.is_required());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    name: String,
    pin_type: PinType,
    required: bool,
    default: Option<Value>,
    description: Option<String>,
}

impl Pin {
    /// A pin of that name and type (an input pin is required until made optional).
    pub fn new(name: impl Into<String>, pin_type: PinType) -> Self {
        Pin {
            name: name.into(),
            pin_type,
            required: true,
            default: None,
            description: None,
        }
    }

    /// A `string` pin.
    pub fn string(name: impl Into<String>) -> Self {
        Pin::new(name, PinType::String)
    }

    /// A `number` pin.
    pub fn number(name: impl Into<String>) -> Self {
        Pin::new(name, PinType::Number)
    }

    /// A `boolean` pin.
    pub fn boolean(name: impl Into<String>) -> Self {
        Pin::new(name, PinType::Boolean)
    }

    /// A `json` pin (any JSON value).
    pub fn json(name: impl Into<String>) -> Self {
        Pin::new(name, PinType::Json)
    }

    /// An input that may be left out (the handler's type should then have a `#[serde(default)]`
    /// or an `Option` for it).
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// An optional input taking `value` when not given. The value must fit the pin's type
    /// ([`Agent::run`](crate::Agent::run) panics at start otherwise: a programming error).
    #[must_use]
    pub fn with_default(mut self, value: impl Into<Value>) -> Self {
        self.required = false;
        self.default = Some(value.into());
        self
    }

    /// A description (for humans; the manifest's description is what the editor shows).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The pin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pin's type.
    pub fn pin_type(&self) -> PinType {
        self.pin_type
    }

    /// Whether an input must be given (true unless optional or with a default).
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The value of an input left out, if any.
    pub fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// A programming error in the declaration, if any.
    pub(crate) fn declaration_problem(&self, what: &str) -> Option<String> {
        if self.name.is_empty() {
            return Some(format!("{what} pin names must not be empty"));
        }
        let default = self.default.as_ref()?;
        let problem = self.pin_type.problem(default)?;
        Some(format!("{what} pin '{}': default {problem}", self.name))
    }
}

/// The inputs given to a handler with declared pins, and what is wrong with them.
#[derive(Debug, Default)]
pub(crate) struct BoundInputs {
    pub values: JsonObject,
    pub missing: Vec<String>,
    pub wrong: Vec<String>,
    pub extra: Vec<String>,
}

pub(crate) fn bind_inputs(pins: &[Pin], inputs: &JsonObject) -> BoundInputs {
    let mut bound = BoundInputs::default();
    for pin in pins {
        match inputs.get(&pin.name) {
            None => {
                if let Some(default) = &pin.default {
                    bound.values.insert(pin.name.clone(), default.clone());
                } else if pin.required {
                    bound
                        .missing
                        .push(format!("required input '{}' was not given", pin.name));
                }
            }
            Some(value) => {
                if let Some(problem) = pin.pin_type.problem(value) {
                    bound.wrong.push(format!("input '{}' {problem}", pin.name));
                }
                bound.values.insert(pin.name.clone(), value.clone());
            }
        }
    }
    bound.extra = inputs
        .keys()
        .filter(|name| !pins.iter().any(|pin| &pin.name == *name))
        .cloned()
        .collect();
    bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn binds_defaults_and_lists_every_problem() {
        let pins = [
            Pin::string("text"),
            Pin::number("count").with_default(1),
            Pin::boolean("flag").optional(),
        ];
        let bound = bind_inputs(&pins, &object(json!({"text": "a"})));
        assert_eq!(Value::Object(bound.values), json!({"text": "a", "count": 1}));
        assert!(bound.missing.is_empty() && bound.wrong.is_empty() && bound.extra.is_empty());

        let bound = bind_inputs(&pins, &object(json!({"count": "3", "flag": 1, "surplus": 0})));
        assert_eq!(bound.missing, ["required input 'text' was not given"]);
        assert_eq!(
            bound.wrong,
            [
                "input 'count' must be number, got string \"3\"",
                "input 'flag' must be boolean, got number 1"
            ]
        );
        assert_eq!(bound.extra, ["surplus"]);
    }

    #[test]
    fn types_are_never_converted() {
        assert!(PinType::Number.problem(&json!(true)).is_some());
        assert!(PinType::Boolean.problem(&json!(1)).is_some());
        assert!(PinType::String.problem(&json!(null)).is_some());
        assert!(PinType::Json.problem(&json!(null)).is_none());
        assert!(PinType::Number.problem(&json!(1.5)).is_none());
    }

    #[test]
    fn declaration_problems() {
        assert!(Pin::number("n")
            .with_default("x")
            .declaration_problem("input")
            .is_some());
        assert!(Pin::json("").declaration_problem("output").is_some());
        assert!(Pin::number("n").with_default(2).declaration_problem("input").is_none());
    }
}
