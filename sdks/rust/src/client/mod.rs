//! A small async client of the MentatLab HTTP API (`/api/v1`), with the `client` feature:
//! submit runs, read them, follow their events live over Server-Sent Events.
//!
//! It runs on tokio (any runtime flavour: it spawns one task per connection) and hyper,
//! speaks HTTP/1.1, and `https://` with the `client-tls` feature (rustls, Mozilla's roots).
//!
//! ```no_run
//! # async fn demo() -> Result<(), mentatlab_sdk::client::ClientError> {
//! use mentatlab_sdk::client::{Client, FollowOptions};
//! use serde_json::json;
//!
//! let client = Client::builder("http://127.0.0.1:8000").api_key("mlk_…").build()?;
//! let flow = json!({"apiVersion": "mentatlab.io/v1", "kind": "Flow" /* … */});
//! let run = client.create_run(&flow, &json!({"prompt.text": "hello"})).await?;
//! let mut events = client.follow_events(&run.id, FollowOptions::default());
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     println!("{} {} {:?}", event.seq, event.kind, event.data);
//! }
//! let record = client.get_run(&run.id).await?;
//! println!("{}", record.status);
//! # Ok(())
//! # }
//! ```

mod http;
mod sse;
mod types;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use sse::{SseMessage, SseParser};
pub use types::{NodeError, NodeRecord, NodeStatus, Problem, RunEvent, RunPage, RunRecord, RunRef, RunStatus};

use http::{BaseUrl, Connector};

/// The variable [`Client::from_env`] reads the server's URL from.
pub const SERVER_ENV: &str = "MENTATLAB_SERVER";
/// The variable [`Client::from_env`] reads the API key from.
pub const API_KEY_ENV: &str = "MENTATLAB_API_KEY";

/// Statuses worth retrying while following events: a restarting server, a proxy, a rate limit.
const RETRYABLE_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// What went wrong with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL (or a path) is not usable.
    InvalidUrl(String),
    /// The server refused the request: its status and, when it sent one, the RFC 9457 problem.
    Api {
        /// The HTTP status.
        status: u16,
        /// `HTTP 404: Not found: no run r-1`.
        message: String,
        /// The problem document.
        problem: Option<Box<Problem>>,
    },
    /// Connecting, sending or receiving failed, or timed out.
    Transport {
        /// What failed.
        message: String,
        /// The underlying error.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server answered with something that is not what the API returns.
    Decode(String),
    /// The event stream broke and could not be resumed.
    StreamLost {
        /// The run being followed.
        run_id: String,
        /// How many reconnections failed in a row.
        retries: u32,
        /// The last failure.
        last_error: String,
    },
}

impl ClientError {
    fn transport(message: String, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ClientError::Transport { message, source }
    }

    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem document of a refused request.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api { problem, .. } => problem.as_deref(),
            _ => None,
        }
    }

    async fn from_response(response: Response<Incoming>) -> Self {
        let status = response.status();
        let text = match response.into_body().collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            Err(_) => String::new(),
        };
        let problem = serde_json::from_str::<Problem>(&text).ok().map(Box::new);
        let detail = match &problem {
            Some(problem) => format!("{}: {}", problem.title, problem.detail),
            None if text.trim().is_empty() => status.canonical_reason().unwrap_or_default().to_owned(),
            None => text.chars().take(200).collect(),
        };
        ClientError::Api {
            status: status.as_u16(),
            message: format!("HTTP {}: {detail}", status.as_u16()),
            problem,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(why) => write!(f, "invalid URL {why}"),
            ClientError::Api { message, .. } => f.write_str(message),
            ClientError::Transport {
                message,
                source: Some(source),
            } => write!(f, "{message}: {source}"),
            ClientError::Transport { message, source: None } => f.write_str(message),
            ClientError::Decode(why) => write!(f, "unexpected response: {why}"),
            ClientError::StreamLost {
                run_id,
                retries,
                last_error,
            } => {
                write!(
                    f,
                    "lost the event stream of run {run_id} after {retries} retries: {last_error}"
                )
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Transport {
                source: Some(source), ..
            } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl ClientBuilder {
    /// An API key (`mentatctl apikey create`), sent as `Authorization: Bearer <key>`.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// An extra header on every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The time limit of a request and its response (not of event streams); 30 s by default.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time limit of connecting; 10 s by default.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The client; fails on a URL it cannot use, or a header or key that is not a valid
    /// header value.
    pub fn build(self) -> Result<Client, ClientError> {
        let connector = Connector::new(BaseUrl::parse(&self.base_url)?, self.connect_timeout)?;
        let mut headers = Vec::new();
        let agent = concat!("mentatlab-sdk-rust/", env!("CARGO_PKG_VERSION"));
        headers.push((USER_AGENT, HeaderValue::from_static(agent)));
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| ClientError::InvalidUrl(format!("header {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| ClientError::InvalidUrl(format!("header {name}: {e}")))?;
            headers.push((name, value));
        }
        if let Some(key) = &self.api_key {
            let mut value = HeaderValue::try_from(format!("Bearer {key}"))
                .map_err(|_| ClientError::InvalidUrl("the API key is not a valid header value".to_owned()))?;
            value.set_sensitive(true);
            headers.push((AUTHORIZATION, value));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                connector,
                headers,
                timeout: self.timeout,
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    connector: Connector,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

/// A client of the MentatLab HTTP API; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Which runs [`Client::list_runs`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListRuns {
    /// At most this many (1–200; the server's default is 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
}

/// How [`Client::follow_events`] follows a run.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Start after this seq (resume a log read up to here); from the start by default.
    pub after: Option<u64>,
    /// Consecutive failed reconnections before giving up; 10 by default. The count starts
    /// over whenever a connection delivers an event.
    pub max_retries: u32,
    /// The first reconnection delay (doubled after each failure); 200 ms by default. A
    /// `retry:` from the server replaces it.
    pub initial_delay: Duration,
    /// The longest reconnection delay; 5 s by default.
    pub max_delay: Duration,
    /// A connection that delivers nothing (not even the server's `: ping`, every 15 s by
    /// default) for this long is dropped and resumed; 60 s by default, `None` for never.
    pub idle_timeout: Option<Duration>,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            after: None,
            max_retries: 10,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl FollowOptions {
    /// Start after `seq`.
    #[must_use]
    pub fn after(mut self, seq: u64) -> Self {
        self.after = Some(seq);
        self
    }
}

fn encode_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8000`; a trailing `/api/v1`
    /// is accepted too), without an API key.
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        Client::builder(base_url).build()
    }

    /// A builder, to add an API key, headers, timeouts.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// A client of `$MENTATLAB_SERVER` with the key `$MENTATLAB_API_KEY` (if set), as the
    /// Python client and `mentatctl` do.
    pub fn from_env() -> Result<Client, ClientError> {
        let server = std::env::var(SERVER_ENV)
            .map_err(|_| ClientError::InvalidUrl(format!("no server URL: set {SERVER_ENV}")))?;
        let mut builder = Client::builder(server);
        if let Ok(key) = std::env::var(API_KEY_ENV) {
            builder = builder.api_key(key);
        }
        builder.build()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &'static str,
        body: Option<Vec<u8>>,
        extra: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut headers = self.inner.headers.clone();
        headers.push((ACCEPT, HeaderValue::from_static(accept)));
        if body.is_some() {
            headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        headers.extend(extra);
        self.inner.connector.send(method, path, &headers, body).await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let body = body.map(|body| serde_json::to_vec(body).unwrap_or_default());
        let exchange = async {
            let response = self.send(method, path, "application/json", body, None).await?;
            if !response.status().is_success() {
                return Err(ClientError::from_response(response).await);
            }
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::transport("reading the response failed".to_owned(), Some(e.into())))?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(format!("{path}: {e}")))
        };
        tokio::time::timeout(self.inner.timeout, exchange)
            .await
            .map_err(|_| ClientError::transport(format!("{path}: no response within {:?}", self.inner.timeout), None))?
    }

    /// `POST /runs`: validate the flow and queue a run of it; `inputs` by `NODE.PIN` (an
    /// object; `null` means none). An invalid flow is a 422 whose problem holds the report.
    pub async fn create_run<F, I>(&self, flow: &F, inputs: &I) -> Result<RunRef, ClientError>
    where
        F: Serialize + ?Sized,
        I: Serialize + ?Sized,
    {
        let flow = serde_json::to_value(flow).map_err(|e| ClientError::Decode(format!("the flow is not JSON: {e}")))?;
        let inputs = match serde_json::to_value(inputs) {
            Ok(Value::Null) => Value::Object(serde_json::Map::new()),
            Ok(inputs) => inputs,
            Err(e) => return Err(ClientError::Decode(format!("the inputs are not JSON: {e}"))),
        };
        let body = serde_json::json!({"flow": flow, "inputs": inputs});
        self.json(Method::POST, "/runs", Some(&body)).await
    }

    /// `GET /runs/{id}`: the run record.
    pub async fn get_run(&self, id: &str) -> Result<RunRecord, ClientError> {
        self.json(Method::GET, &format!("/runs/{}", encode_segment(id)), None)
            .await
    }

    /// `GET /runs`: runs, newest first.
    pub async fn list_runs(&self, query: &ListRuns) -> Result<RunPage, ClientError> {
        let mut params = Vec::new();
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        if let Some(cursor) = &query.cursor {
            params.push(format!("cursor={}", encode_segment(cursor)));
        }
        if let Some(status) = &query.status {
            params.push(format!("status={}", encode_segment(status.as_str())));
        }
        let search = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        self.json(Method::GET, &format!("/runs{search}"), None).await
    }

    /// `POST /runs/{id}/cancel`: ask for the run to be cancelled (a 409 if it had finished).
    pub async fn cancel_run(&self, id: &str) -> Result<RunRef, ClientError> {
        self.json(Method::POST, &format!("/runs/{}/cancel", encode_segment(id)), None)
            .await
    }

    /// `GET /runs/{id}/events`: every event of the run in `seq` order, then live ones, ending
    /// after the run's final `run.status`. A dropped connection is resumed where it stopped
    /// (`Last-Event-ID`), so no event is missed or repeated. Drop the stream to stop.
    pub fn follow_events(&self, id: &str, options: FollowOptions) -> EventStream {
        EventStream {
            client: self.clone(),
            run_id: id.to_owned(),
            last: options.after,
            delay: options.initial_delay,
            options,
            failures: 0,
            wait: None,
            last_error: String::new(),
            state: StreamState::Closed,
        }
    }

    /// Follow the run's events until it finishes, then return its record.
    pub async fn wait_for_run(&self, id: &str) -> Result<RunRecord, ClientError> {
        let mut events = self.follow_events(id, FollowOptions::default());
        while let Some(event) = events.next().await {
            event?;
        }
        self.get_run(id).await
    }
}

enum StreamState {
    /// Not connected: connect (after `wait`, if any).
    Closed,
    /// Reading a response.
    Open {
        body: Incoming,
        parser: SseParser,
        queue: VecDeque<SseMessage>,
        received: bool,
    },
    /// The run's final event was yielded, or following failed.
    Done,
}

/// The events of a run as [`Client::follow_events`] follows them: call [`EventStream::next`]
/// until it returns `None`.
pub struct EventStream {
    client: Client,
    run_id: String,
    options: FollowOptions,
    last: Option<u64>,
    delay: Duration,
    failures: u32,
    wait: Option<Duration>,
    last_error: String,
    state: StreamState,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("run_id", &self.run_id)
            .field("last_seq", &self.last)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// What reading a connection gave.
enum Read {
    Event(RunEvent),
    /// The connection ended or broke.
    Ended {
        received: bool,
    },
}

impl EventStream {
    /// The seq of the last event yielded (or the `after` it started from).
    pub fn last_seq(&self) -> Option<u64> {
        self.last
    }

    /// The next event; `None` after the run's final event. An error ends the stream.
    pub async fn next(&mut self) -> Option<Result<RunEvent, ClientError>> {
        loop {
            match &mut self.state {
                StreamState::Done => return None,
                StreamState::Closed => {
                    if let Some(wait) = self.wait.take() {
                        tokio::time::sleep(wait).await;
                    }
                    match self.connect().await {
                        Ok(Some(body)) => {
                            self.state = StreamState::Open {
                                body,
                                parser: SseParser::new(),
                                queue: VecDeque::new(),
                                received: false,
                            }
                        }
                        Ok(None) => {
                            if let Err(error) = self.failed(false) {
                                return Some(Err(error));
                            }
                        }
                        Err(error) => {
                            self.state = StreamState::Done;
                            return Some(Err(error));
                        }
                    }
                }
                StreamState::Open { .. } => match self.read().await {
                    Ok(Read::Event(event)) => {
                        if event.is_final() {
                            self.state = StreamState::Done;
                        }
                        return Some(Ok(event));
                    }
                    Ok(Read::Ended { received }) => {
                        self.state = StreamState::Closed;
                        // Ending without an event we have not seen means we started past the
                        // end, or the server went away: ask the run itself.
                        if !received {
                            if let Ok(record) = self.client.get_run(&self.run_id).await {
                                if record.status.is_terminal() {
                                    self.state = StreamState::Done;
                                    return None;
                                }
                            }
                        }
                        if let Err(error) = self.failed(received) {
                            return Some(Err(error));
                        }
                    }
                    Err(error) => {
                        self.state = StreamState::Done;
                        return Some(Err(error));
                    }
                },
            }
        }
    }

    /// Count a connection that ended (after `received` events, or none) and choose the wait
    /// before the next one.
    fn failed(&mut self, received: bool) -> Result<(), ClientError> {
        if received {
            self.wait = Some(self.delay);
            return Ok(());
        }
        self.failures += 1;
        if self.failures > self.options.max_retries {
            self.state = StreamState::Done;
            return Err(ClientError::StreamLost {
                run_id: self.run_id.clone(),
                retries: self.options.max_retries,
                last_error: std::mem::take(&mut self.last_error),
            });
        }
        let factor = 2u32.saturating_pow(self.failures.saturating_sub(1).min(16));
        self.wait = Some(self.delay.saturating_mul(factor).min(self.options.max_delay));
        Ok(())
    }

    /// Open the stream; `Ok(None)` for a failure worth retrying.
    async fn connect(&mut self) -> Result<Option<Incoming>, ClientError> {
        let path = format!("/runs/{}/events", encode_segment(&self.run_id));
        let resume = self
            .last
            .map(|seq| (HeaderName::from_static("last-event-id"), HeaderValue::from(seq)));
        match self
            .client
            .send(Method::GET, &path, "text/event-stream", None, resume)
            .await
        {
            Ok(response) if response.status().is_success() => Ok(Some(response.into_body())),
            Ok(response) if RETRYABLE_STATUSES.contains(&response.status().as_u16()) => {
                self.last_error = ClientError::from_response(response).await.to_string();
                Ok(None)
            }
            Ok(response) => Err(ClientError::from_response(response).await),
            Err(error @ ClientError::Transport { .. }) => {
                self.last_error = error.to_string();
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The next event of the open connection, or how it ended.
    async fn read(&mut self) -> Result<Read, ClientError> {
        let StreamState::Open {
            body,
            parser,
            queue,
            received,
        } = &mut self.state
        else {
            return Ok(Read::Ended { received: false });
        };
        loop {
            while let Some(message) = queue.pop_front() {
                if let Some(retry) = message.retry {
                    self.delay = Duration::from_millis(retry);
                }
                if message.data.is_empty() {
                    continue;
                }
                let event: RunEvent = serde_json::from_str(&message.data)
                    .map_err(|e| ClientError::Decode(format!("event {:?}: {e}", message.id)))?;
                // After a reconnection the server resumes after `last`: never yield twice.
                if self.last.is_some_and(|last| event.seq <= last) {
                    continue;
                }
                self.last = Some(event.seq);
                self.failures = 0;
                *received = true;
                return Ok(Read::Event(event));
            }
            let frame = match self.options.idle_timeout {
                Some(idle) => match tokio::time::timeout(idle, body.frame()).await {
                    Ok(frame) => frame,
                    Err(_) => {
                        self.last_error = format!("no data for {idle:?}");
                        return Ok(Read::Ended { received: *received });
                    }
                },
                None => body.frame().await,
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        queue.extend(parser.push(&data));
                    }
                }
                Some(Err(error)) => {
                    self.last_error = format!("the event stream broke: {error}");
                    return Ok(Read::Ended { received: *received });
                }
                None => {
                    self.last_error = "the event stream ended before the run's final event".to_owned();
                    return Ok(Read::Ended { received: *received });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
