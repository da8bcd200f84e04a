//! A Lambda Runtime API for the tests: what Lambda (or the Runtime Interface Emulator) serves a
//! custom runtime, as the Lambda developer guide documents it ("Using the Lambda runtime API for
//! custom runtimes", API version 2018-06-01). The binary under test polls it in Lambda mode.
//!
//! - `GET /2018-06-01/runtime/invocation/next`: held until [`RuntimeApi::invoke`] queues an event;
//!   answered with the event and the `Lambda-Runtime-*` headers;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../error`: the outcome, answered 202;
//!   an unknown id 400 (as Lambda's InvalidRequestID);
//! - `POST /2018-06-01/runtime/init/error`: kept, answered 202.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    /// The `/error` body and its `Lambda-Runtime-Function-Error-Type` header.
    Error {
        body: Value,
        error_type: Option<String>,
    },
}

impl Outcome {
    pub fn response(&self) -> &Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error { body, .. } => panic!("the invocation failed: {body}"),
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, String)>,
    pending: HashMap<String, Option<Outcome>>,
    init_error: Option<Value>,
    /// When each `/next` arrived (the binary's init time is the first one).
    nexts: Vec<Instant>,
    count: u64,
    /// Milliseconds each invocation may take (the `Lambda-Runtime-Deadline-Ms` header).
    timeout_ms: u64,
}

pub struct RuntimeApi {
    pub authority: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    pub fn start() -> Self {
        Self::with_timeout(Duration::from_secs(60))
    }

    /// A Runtime API whose invocations each get `timeout` (the function's Timeout setting).
    pub fn with_timeout(timeout: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::new((
            Mutex::new(State { timeout_ms: timeout.as_millis() as u64, ..State::default() }),
            Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { authority, state }
    }

    /// Queue `event` and wait (60 s at most) for the runtime's outcome.
    pub fn invoke(&self, event: &Value) -> Outcome {
        let (lock, cond) = &*self.state;
        let id = {
            let mut s = lock.lock().unwrap();
            s.count += 1;
            let id = format!("8476a536-e9f4-11e8-9739-{:012x}", s.count);
            s.queue.push_back((id.clone(), event.to_string()));
            s.pending.insert(id.clone(), None);
            cond.notify_all();
            id
        };
        let start = Instant::now();
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(Some(outcome)) = s.pending.get(&id) {
                return outcome.clone();
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no outcome for invocation {id}");
            s = cond.wait_timeout(s, Duration::from_millis(100)).unwrap().0;
        }
    }

    /// The `/init/error` body, once the runtime posted one (waits up to 30 s).
    pub fn wait_init_error(&self) -> Value {
        let (lock, cond) = &*self.state;
        let start = Instant::now();
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(v) = &s.init_error {
                return v.clone();
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no /init/error");
            s = cond.wait_timeout(s, Duration::from_millis(100)).unwrap().0;
        }
    }

    /// Wait (30 s at most) for the first `/next`: the runtime is initialized. Returns when it came.
    pub fn wait_ready(&self) -> Instant {
        let (lock, cond) = &*self.state;
        let start = Instant::now();
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(t) = s.nexts.first() {
                return *t;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the runtime never asked for an invocation");
            s = cond.wait_timeout(s, Duration::from_millis(20)).unwrap().0;
        }
    }
}

struct HttpRequest {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<HttpRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { method, path, headers, body })
}

fn answer(mut stream: &TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let Some(req) = read_request(&stream) else { return };
    let (lock, cond) = shared;
    const NEXT: &str = "/2018-06-01/runtime/invocation/next";
    const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
    if req.method == "GET" && req.path == NEXT {
        let mut s = lock.lock().unwrap();
        s.nexts.push(Instant::now());
        cond.notify_all();
        let (id, event) = loop {
            if let Some(item) = s.queue.pop_front() {
                break item;
            }
            s = cond.wait(s).unwrap();
        };
        let timeout_ms = s.timeout_ms;
        drop(s);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let headers = [
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", (now + timeout_ms).to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:nv".to_owned()),
            ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419".to_owned()),
        ];
        answer(&stream, "200 OK", &headers, &event);
        return;
    }
    if req.method == "POST" && req.path == INIT_ERROR {
        let mut s = lock.lock().unwrap();
        s.init_error = Some(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
        cond.notify_all();
        answer(&stream, "202 Accepted", &[], r#"{"status":"OK"}"#);
        return;
    }
    let rest = req.path.strip_prefix("/2018-06-01/runtime/invocation/");
    let parsed = rest.and_then(|r| r.split_once('/'));
    if let (Some((id, kind)), "POST") = (parsed, req.method.as_str()) {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let outcome = match kind {
            "response" => Outcome::Response(body),
            "error" => {
                Outcome::Error { body, error_type: req.headers.get("lambda-runtime-function-error-type").cloned() }
            }
            _ => return answer(&stream, "404 Not Found", &[], r#"{"errorType":"NotFound"}"#),
        };
        let mut s = lock.lock().unwrap();
        match s.pending.get_mut(id) {
            Some(slot @ None) => {
                *slot = Some(outcome);
                cond.notify_all();
                drop(s);
                answer(&stream, "202 Accepted", &[], r#"{"status":"OK"}"#);
            }
            _ => {
                drop(s);
                answer(&stream, "400 Bad Request", &[], r#"{"errorType":"InvalidRequestID"}"#);
            }
        }
        return;
    }
    answer(&stream, "404 Not Found", &[], r#"{"errorType":"NotFound"}"#);
}
