//! A Server-Sent Events parser (WHATWG HTML, "event stream interpretation"), fed bytes as
//! they arrive.

/// One dispatched message of an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen so far in the stream (the spec's "last event ID"), if any.
    pub id: Option<String>,
    /// A `retry:` reconnection delay in milliseconds, when this message carried one.
    pub retry: Option<u64>,
}

/// An incremental SSE parser. Lines end in CRLF, LF or CR; `:` lines are comments
/// (keep-alive pings); a message is dispatched at a blank line, one without data is not; a
/// message not ended by a blank line when the stream ends is discarded.
///
/// ```
/// use mentatlab_sdk::client::SseParser;
///
/// let mut parser = SseParser::new();
/// assert!(parser.push(b"id: 7\nevent: log\ndata: {\"a\"").is_empty());
/// let messages = parser.push(b":1}\n\n");
/// assert_eq!(messages[0].data, "{\"a\":1}");
/// assert_eq!(messages[0].id.as_deref(), Some("7"));
/// ```
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    started: bool,
    data: Vec<String>,
    has_data: bool,
    event: String,
    id: Option<String>,
    retry: Option<u64>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// The last event ID seen so far.
    pub fn last_event_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Feed the next bytes of the stream; returns the messages they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        self.buffer.extend_from_slice(bytes);
        if !self.started && !self.buffer.is_empty() {
            // A UTF-8 byte order mark at the very start is ignored.
            if self.buffer.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buffer) {
                return Vec::new();
            }
            if self.buffer.starts_with(b"\xEF\xBB\xBF") {
                self.buffer.drain(..3);
            }
            self.started = true;
        }
        let mut messages = Vec::new();
        let mut start = 0;
        let mut index = 0;
        while index < self.buffer.len() {
            let byte = self.buffer[index];
            if byte != b'\n' && byte != b'\r' {
                index += 1;
                continue;
            }
            let mut end = index + 1;
            if byte == b'\r' {
                match self.buffer.get(index + 1) {
                    // A trailing CR may be the first half of CRLF: wait for more.
                    None => break,
                    Some(b'\n') => end += 1,
                    Some(_) => {}
                }
            }
            let line = String::from_utf8_lossy(&self.buffer[start..index]).into_owned();
            if let Some(message) = self.line(&line) {
                messages.push(message);
            }
            start = end;
            index = end;
        }
        self.buffer.drain(..start);
        messages
    }

    fn line(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            let message = self.has_data.then(|| SseMessage {
                event: if self.event.is_empty() {
                    "message".to_owned()
                } else {
                    self.event.clone()
                },
                data: self.data.join("\n"),
                id: self.id.clone(),
                retry: self.retry,
            });
            self.data.clear();
            self.has_data = false;
            self.event.clear();
            self.retry = None;
            return message;
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], piece: usize) -> Vec<SseMessage> {
        let mut parser = SseParser::new();
        stream.chunks(piece).flat_map(|chunk| parser.push(chunk)).collect()
    }

    #[test]
    fn messages_whatever_the_chunking() {
        let stream = "\u{feff}: ping\r\nid: 1\r\nevent: log\r\ndata: {\"x\":\"é🧠\"}\r\n\r\nretry: 2500\ndata: a\ndata:b\ndata\n\nid: 2\rdata: c\r\rid: bad\0\ndata: d\n\ndata: lost at the end";
        let expected = vec![
            SseMessage {
                event: "log".into(),
                data: "{\"x\":\"é🧠\"}".into(),
                id: Some("1".into()),
                retry: None,
            },
            SseMessage {
                event: "message".into(),
                data: "a\nb\n".into(),
                id: Some("1".into()),
                retry: Some(2500),
            },
            SseMessage {
                event: "message".into(),
                data: "c".into(),
                id: Some("2".into()),
                retry: None,
            },
            SseMessage {
                event: "message".into(),
                data: "d".into(),
                id: Some("2".into()),
                retry: None,
            },
        ];
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(parse_in_pieces(stream.as_bytes(), piece), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn no_data_no_message_and_fields_reset() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: x\nretry: soon\n\n").is_empty());
        let messages = parser.push(b"data: y\n\n");
        assert_eq!(messages[0].event, "message");
        assert_eq!(messages[0].retry, None);
        assert_eq!(parser.last_event_id(), None);
    }

    #[test]
    fn a_cr_at_the_end_of_a_chunk_waits_for_the_next() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: x\r").is_empty());
        assert_eq!(parser.push(b"\n\r\n").len(), 1);
        assert!(parser.push(b"data: y\r\r").is_empty(), "the second CR may start a CRLF");
        assert_eq!(parser.push(b"data: z").len(), 1);
    }
}
