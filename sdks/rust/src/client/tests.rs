//! The client against a tiny HTTP/1.1 server on 127.0.0.1 (tokio's `TcpListener`), scripted
//! per test: no external network.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the server answers: raw pieces written in order (with pauses), then it closes.
enum Piece {
    Bytes(Vec<u8>),
    Pause(Duration),
}

type Script = Arc<dyn Fn(&Seen, usize) -> Vec<Piece> + Send + Sync>;

fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(future)
}

/// Start the server; returns its base URL and the requests it has seen.
async fn server(script: Script) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut count = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let script = Arc::clone(&script);
            let log = Arc::clone(&log);
            let index = count;
            count += 1;
            tokio::spawn(async move {
                let _ = answer(stream, script, log, index).await;
            });
        }
    });
    (url, seen)
}

async fn answer(
    mut stream: TcpStream,
    script: Script,
    log: Arc<Mutex<Vec<Seen>>>,
    index: usize,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
    let request = Seen {
        method,
        path,
        headers,
        body,
    };
    log.lock().expect("log").push(request.clone());
    for piece in script(&request, index) {
        match piece {
            Piece::Bytes(bytes) => {
                stream.write_all(&bytes).await?;
                stream.flush().await?;
            }
            Piece::Pause(pause) => tokio::time::sleep(pause).await,
        }
    }
    stream.shutdown().await
}

fn json_response(status: u16, body: &Value) -> Vec<Piece> {
    let body = body.to_string();
    let reason = if status < 300 { "OK" } else { "Error" };
    let content_type = if status < 300 {
        "application/json"
    } else {
        "application/problem+json"
    };
    vec![Piece::Bytes(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )]
}

/// An event stream, close-delimited (no length, no chunking): it ends when the server closes.
fn sse_head() -> Piece {
    Piece::Bytes(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
            .to_vec(),
    )
}

fn sse_event(seq: u64, kind: &str, data: Value) -> Piece {
    let event = json!({"run_id": "r-1", "seq": seq, "ts": "2026-01-01T00:00:00Z", "type": kind, "node": null, "attempt": null, "data": data});
    Piece::Bytes(format!("id: {seq}\nevent: {kind}\ndata: {event}\n\n").into_bytes())
}

fn record(status: &str) -> Value {
    json!({
        "id": "r-1", "status": status, "flow_id": "demo.shout", "flow_name": "Shout",
        "created_at": "2026-01-01T00:00:00Z", "started_at": null, "finished_at": null,
        "inputs": {"prompt.text": "hi"},
        "nodes": {"loud": {"status": "succeeded", "attempts": 1, "outputs": {"result": "HI"}, "error": null,
                           "progress": 100, "started_at": null, "finished_at": null, "future_field": 1}},
        "outputs": {"loud": {"result": "HI"}},
        "error": null,
        "added_later": true,
    })
}

#[test]
fn create_get_list_cancel() {
    block_on(async {
        let script: Script = Arc::new(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
            ("POST", "/lab/api/v1/runs") => json_response(201, &json!({"id": "r-1", "status": "queued"})),
            ("GET", "/lab/api/v1/runs/r-1") => json_response(200, &record("succeeded")),
            ("GET", path) if path.starts_with("/lab/api/v1/runs?") => {
                json_response(200, &json!({"items": [record("running")], "next_cursor": "r-0"}))
            }
            ("POST", "/lab/api/v1/runs/r%2F1/cancel") => json_response(202, &json!({"id": "r/1", "status": "running"})),
            _ => json_response(
                404,
                &json!({"type": "about:blank", "title": "Not found", "status": 404, "detail": "nothing here"}),
            ),
        });
        let (url, seen) = server(script).await;
        let client = Client::builder(format!("{url}/lab/"))
            .api_key("mlk_secret")
            .header("x-trace", "t1")
            .build()
            .unwrap();

        let flow = json!({"kind": "Flow", "graph": {"nodes": []}});
        let created = client.create_run(&flow, &json!({"prompt.text": "hi"})).await.unwrap();
        assert_eq!(
            created,
            RunRef {
                id: "r-1".into(),
                status: RunStatus::Queued
            }
        );
        let post = seen.lock().unwrap()[0].clone();
        assert_eq!(post.header("authorization"), Some("Bearer mlk_secret"));
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert_eq!(post.header("accept"), Some("application/json"));
        assert_eq!(post.header("x-trace"), Some("t1"));
        assert_eq!(post.header("host"), Some(url.trim_start_matches("http://")));
        assert_eq!(
            serde_json::from_str::<Value>(&post.body).unwrap(),
            json!({"flow": flow, "inputs": {"prompt.text": "hi"}})
        );

        let run = client.get_run("r-1").await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.status.is_terminal());
        let loud = &run.nodes["loud"];
        assert_eq!(
            (loud.status.clone(), loud.attempts, loud.progress),
            (NodeStatus::Succeeded, 1, Some(100.0))
        );
        assert_eq!(run.outputs["loud"]["result"], json!("HI"));

        let page = client
            .list_runs(&ListRuns {
                limit: Some(5),
                cursor: Some("r 9".into()),
                status: Some(RunStatus::Running),
            })
            .await
            .unwrap();
        assert_eq!((page.items.len(), page.next_cursor.as_deref()), (1, Some("r-0")));
        assert_eq!(
            seen.lock().unwrap()[2].path,
            "/lab/api/v1/runs?limit=5&cursor=r%209&status=running"
        );

        assert_eq!(client.cancel_run("r/1").await.unwrap().status, RunStatus::Running);

        let error = client.get_run("nope").await.unwrap_err();
        assert_eq!(error.status(), Some(404));
        assert_eq!(error.problem().map(|p| p.detail.as_str()), Some("nothing here"));
        assert_eq!(error.to_string(), "HTTP 404: Not found: nothing here");
    });
}

#[test]
fn unknown_statuses_and_fields_are_kept_or_ignored() {
    let record: RunRecord =
        serde_json::from_value(json!({"id": "r", "status": "paused", "nodes": {}, "x": 1})).unwrap();
    assert_eq!(record.status, RunStatus::Other("paused".into()));
    assert!(!record.status.is_terminal());
    assert_eq!(serde_json::to_value(RunStatus::Failed).unwrap(), json!("failed"));
}

#[test]
fn follow_events_resumes_with_last_event_id() {
    block_on(async {
        let script: Script = Arc::new(|seen, index| {
            if seen.method == "GET" && seen.path == "/api/v1/runs/r-1" {
                return json_response(200, &record("succeeded"));
            }
            match index {
                // Events 1 and 2, then the connection drops before the run ends.
                0 => vec![
                    sse_head(),
                    Piece::Bytes(b"retry: 10\n: ping\n\n".to_vec()),
                    sse_event(1, "run.status", json!({"status": "running"})),
                    Piece::Pause(Duration::from_millis(20)),
                    sse_event(2, "log", json!({"level": "info", "message": "hi"})),
                ],
                // Resumed: the server repeats 2 (it must not be yielded twice), then the end.
                _ => vec![
                    sse_head(),
                    sse_event(2, "log", json!({"level": "info", "message": "hi"})),
                    sse_event(3, "output", json!({"pin": "result", "value": "é🧠"})),
                    sse_event(4, "run.status", json!({"status": "succeeded"})),
                    sse_event(5, "log", json!({"message": "never read"})),
                ],
            }
        });
        let (url, seen) = server(script).await;
        let client = Client::new(&url).unwrap();
        let mut events = client.follow_events("r-1", FollowOptions::default());
        let mut seqs = Vec::new();
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            seqs.push((event.seq, event.kind.clone()));
        }
        assert_eq!(
            seqs,
            [
                (1, "run.status".into()),
                (2, "log".into()),
                (3, "output".into()),
                (4, "run.status".into())
            ]
        );
        assert_eq!(events.last_seq(), Some(4));
        let seen = seen.lock().unwrap();
        let streams: Vec<&Seen> = seen.iter().filter(|s| s.path == "/api/v1/runs/r-1/events").collect();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].header("last-event-id"), None);
        assert_eq!(streams[0].header("accept"), Some("text/event-stream"));
        assert_eq!(streams[1].header("last-event-id"), Some("2"));
    });
}

#[test]
fn follow_events_after_the_end_asks_the_run() {
    block_on(async {
        let script: Script = Arc::new(|seen, _| {
            if seen.path.ends_with("/events") {
                vec![sse_head(), Piece::Bytes(b": ping\n\n".to_vec())]
            } else {
                json_response(200, &record("failed"))
            }
        });
        let (url, seen) = server(script).await;
        let client = Client::new(&url).unwrap();
        let mut events = client.follow_events("r-1", FollowOptions::default().after(9));
        assert!(events.next().await.is_none());
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].header("last-event-id"), Some("9"));
        assert_eq!(seen[1].path, "/api/v1/runs/r-1");
    });
}

#[test]
fn follow_events_gives_up_after_max_retries() {
    block_on(async {
        let script: Script = Arc::new(|_, _| {
            json_response(
                503,
                &json!({"title": "Unavailable", "status": 503, "detail": "shutting down"}),
            )
        });
        let (url, seen) = server(script).await;
        let client = Client::new(&url).unwrap();
        let options = FollowOptions {
            max_retries: 2,
            initial_delay: Duration::from_millis(5),
            ..FollowOptions::default()
        };
        let mut events = client.follow_events("r-1", options);
        let error = events.next().await.unwrap().unwrap_err();
        assert!(matches!(error, ClientError::StreamLost { retries: 2, .. }), "{error}");
        assert!(error.to_string().contains("shutting down"), "{error}");
        assert!(events.next().await.is_none());
        assert_eq!(seen.lock().unwrap().len(), 3);
    });
}

#[test]
fn refused_streams_and_unreachable_servers() {
    block_on(async {
        let script: Script = Arc::new(|_, _| {
            json_response(
                401,
                &json!({"title": "Unauthorized", "status": 401, "detail": "no key"}),
            )
        });
        let (url, _) = server(script).await;
        let client = Client::new(&url).unwrap();
        let error = client
            .follow_events("r-1", FollowOptions::default())
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(error.status(), Some(401));

        // Nothing listens on a port just released.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let error = client.get_run("r-1").await.unwrap_err();
        assert!(matches!(error, ClientError::Transport { .. }), "{error}");
    });
}

#[test]
fn base_urls_and_keys_are_checked() {
    assert!(matches!(Client::new("localhost:8000"), Err(ClientError::InvalidUrl(_))));
    assert!(Client::builder("http://h").api_key("bad\nkey").build().is_err());
    #[cfg(not(feature = "client-tls"))]
    assert!(Client::new("https://h").is_err());
    #[cfg(feature = "client-tls")]
    assert!(Client::new("https://h").is_ok());
}
