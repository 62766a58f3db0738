//! Strict JSON: values are checked before they are written, and events are encoded as
//! protocol v1 wants them (compact, one line, U+2028/U+2029/U+0085 escaped).
//!
//! `serde_json` silently writes `f64::NAN` and the infinities as `null`; protocol v1 says a
//! value that is not JSON must not be written as something else (docs/protocol.md, section
//! 3), so [`to_json`] refuses them, naming where they are.

use std::fmt;

use serde::ser::{self, Serialize};
use serde_json::Value;

/// A JSON object, as `serde_json` has it (insertion order preserved).
pub type JsonObject = serde_json::Map<String, Value>;

/// Why a value could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson {
    /// Where, from the value's root: `[2].name`, or empty for the root itself.
    pub path: String,
    /// What is wrong, e.g. `is NaN (NaN and Infinity are not JSON)`.
    pub problem: String,
}

impl NotJson {
    /// The message, with `what` naming the root value (e.g. `output 'result'`).
    pub fn describe(&self, what: &str) -> String {
        format!("{what}{} {}", self.path, self.problem)
    }
}

impl fmt::Display for NotJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("value"))
    }
}

/// Serialize `value` to a JSON value, strictly: non-finite floats and serialization errors
/// (a map with non-string keys, a failing `Serialize` impl) are errors, never `null`.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, NotJson> {
    value.serialize(Checker)?;
    serde_json::to_value(value).map_err(|error| NotJson {
        path: String::new(),
        problem: format!("is not JSON: {error}"),
    })
}

/// Compact JSON on one line, as protocol v1 writes every event: U+2028, U+2029 and U+0085
/// (legal raw inside JSON strings, but line breaks for JavaScript's `readline` and Python's
/// `str.splitlines()`) are written as `\u` escapes.
pub fn encode_line<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    if !text.contains(['\u{2028}', '\u{2029}', '\u{85}']) {
        return Ok(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            '\u{85}' => escaped.push_str("\\u0085"),
            other => escaped.push(other),
        }
    }
    Ok(escaped)
}

/// `string "abc"`, `number 42`, `null`, …: a value's JSON type with a short excerpt, for
/// error messages.
pub fn describe_value(value: &Value) -> String {
    const LIMIT: usize = 60;
    if value.is_null() {
        return "null".to_owned();
    }
    let mut text = value.to_string();
    if text.chars().count() > LIMIT {
        text = text.chars().take(LIMIT - 3).collect::<String>() + "...";
    }
    format!("{} {text}", json_kind(value))
}

/// The JSON type of a value: `null`, `boolean`, `number`, `string`, `array` or `object`.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A finite `f64` as a JSON number: integral values within ±2^53 as integers (`50`, not
/// `50.0`), others as floats. `None` for NaN and the infinities.
pub fn number(value: f64) -> Option<serde_json::Number> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if !value.is_finite() {
        return None;
    }
    if value.fract() == 0.0 && value.abs() <= EXACT {
        // Exact: the value is integral and within the range where f64 holds integers exactly.
        #[allow(clippy::cast_possible_truncation)]
        return Some(serde_json::Number::from(value as i64));
    }
    serde_json::Number::from_f64(value)
}

/// Serialize an `f64` field with [`number`] (used by the event types).
pub(crate) fn serialize_number<S: ser::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    match number(*value) {
        Some(number) => number.serialize(serializer),
        None => Err(ser::Error::custom(format!("{value} is not a JSON number"))),
    }
}

// --- The checker: a Serializer that produces nothing and fails on non-finite floats. ---

impl ser::Error for NotJson {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotJson {
            path: String::new(),
            problem: format!("is not JSON: {msg}"),
        }
    }
}

impl std::error::Error for NotJson {}

fn non_finite(value: f64) -> NotJson {
    NotJson {
        path: String::new(),
        problem: format!("is {value} (NaN and Infinity are not JSON)"),
    }
}

fn prefixed(mut error: NotJson, segment: &str) -> NotJson {
    error.path.insert_str(0, segment);
    error
}

fn key_segment(key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", Value::String(key.to_owned()))
    }
}

struct Checker;

/// The state of a compound value being checked: the index of the next element, or the key of
/// the next map value.
struct Compound {
    index: usize,
    key: Option<String>,
}

impl Compound {
    fn new() -> Self {
        Compound { index: 0, key: None }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        let index = self.index;
        self.index += 1;
        value.serialize(Checker).map_err(|e| prefixed(e, &format!("[{index}]")))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), NotJson> {
        value.serialize(Checker).map_err(|e| prefixed(e, &key_segment(key)))
    }
}

impl ser::Serializer for Checker {
    type Ok = ();
    type Error = NotJson;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = Compound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    fn serialize_bool(self, _: bool) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), NotJson> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(non_finite(f64::from(v)))
        }
    }
    fn serialize_f64(self, v: f64) -> Result<(), NotJson> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(non_finite(v))
        }
    }
    fn serialize_char(self, _: char) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotJson> {
        value.serialize(Checker)
    }
    fn serialize_unit(self) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), NotJson> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), NotJson> {
        value.serialize(Checker)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), NotJson> {
        value.serialize(Checker).map_err(|e| prefixed(e, &key_segment(variant)))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound, NotJson> {
        Ok(Compound::new())
    }
}

impl ser::SerializeSeq for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        self.element(value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotJson> {
        key.serialize(Checker)?;
        // Only for messages; serde_json decides later whether the key is acceptable.
        self.key = match serde_json::to_value(key) {
            Ok(Value::String(text)) => Some(text),
            Ok(other) => Some(other.to_string()),
            Err(_) => None,
        };
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotJson> {
        let key = self.key.take().unwrap_or_else(|| "?".to_owned());
        self.field(&key, value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), NotJson> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound {
    type Ok = ();
    type Error = NotJson;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), NotJson> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), NotJson> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Point {
        x: f64,
        tags: Vec<f32>,
    }

    #[test]
    fn accepts_json_values_and_structs() {
        assert_eq!(to_json(&json!({"a": [1, 2.5, null]})), Ok(json!({"a": [1, 2.5, null]})));
        let point = Point {
            x: 1.5,
            tags: vec![1.0],
        };
        assert_eq!(to_json(&point), Ok(json!({"x": 1.5, "tags": [1.0]})));
        assert_eq!(to_json(&()), Ok(Value::Null));
    }

    #[test]
    fn rejects_non_finite_floats_naming_where() {
        let error = to_json(&f64::NAN).unwrap_err();
        assert_eq!(error.path, "");
        assert!(error.problem.contains("NaN"), "{error}");
        let point = Point {
            x: 0.0,
            tags: vec![1.0, f32::INFINITY],
        };
        assert_eq!(
            to_json(&point).unwrap_err().describe("output 'p'"),
            "output 'p'.tags[1] is inf (NaN and Infinity are not JSON)"
        );
        let mut map = BTreeMap::new();
        map.insert("a b", vec![f64::NEG_INFINITY]);
        assert_eq!(to_json(&map).unwrap_err().path, "[\"a b\"][0]");
    }

    #[test]
    fn rejects_maps_json_cannot_key() {
        let mut map = BTreeMap::new();
        map.insert(vec![1], 2);
        assert!(to_json(&map).unwrap_err().problem.contains("key must be a string"));
    }

    #[test]
    fn encodes_one_compact_line_with_line_breaks_escaped() {
        let value = json!({"m": "a\u{2028}b\u{2029}c\u{85}d\né", "n": [1, 2]});
        let line = encode_line(&value).unwrap();
        assert_eq!(line, r#"{"m":"a\u2028b\u2029c\u0085d\né","n":[1,2]}"#);
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), value);
    }

    #[test]
    fn numbers_are_integers_when_integral() {
        assert_eq!(number(50.0).unwrap().to_string(), "50");
        assert_eq!(number(-3.0).unwrap().to_string(), "-3");
        assert_eq!(number(33.5).unwrap().to_string(), "33.5");
        assert_eq!(number(1.5e300).unwrap().as_f64(), Some(1.5e300));
        assert_eq!(number(1e300).unwrap().as_f64(), Some(1e300));
        assert!(number(f64::NAN).is_none());
    }

    #[test]
    fn describes_values() {
        assert_eq!(describe_value(&json!("three")), "string \"three\"");
        assert_eq!(describe_value(&json!(null)), "null");
        assert_eq!(describe_value(&json!(true)), "boolean true");
        let long = describe_value(&json!("x".repeat(100)));
        assert!(long.ends_with("...") && long.len() < 80, "{long}");
    }
}
