//! Unit-test helper: a scripted AWS endpoint on loopback. Each request's operation (the JSON
//! protocols' `X-Amz-Target`, the query protocols' `Action`) takes the first unused scripted answer
//! for that operation; an operation with no answer left gets HTTP 500 (and is recorded). Used to
//! play what AWS may do and our sandbox does not (eventual consistency, SSO role paths...).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::aws::context::Context;
use crate::cli::{DeploymentArgs, OutputFormat};
use crate::progress::Progress;

pub struct Answer {
    pub operation: &'static str,
    pub status: u16,
    pub body: String,
}

/// A JSON-protocol answer (Service Catalog, SageMaker, SSM).
pub fn json(operation: &'static str, body: serde_json::Value) -> Answer {
    Answer { operation, status: 200, body: body.to_string() }
}

/// A JSON-protocol error answer.
pub fn json_error(operation: &'static str, code: &str, message: &str) -> Answer {
    Answer { operation, status: 400, body: serde_json::json!({"__type": code, "message": message}).to_string() }
}

/// A query-protocol (IAM, STS) answer: `inner` is the XML inside `<{op}Result>`.
pub fn xml(operation: &'static str, namespace: &str, inner: &str) -> Answer {
    Answer {
        operation,
        status: 200,
        body: format!(
            "<{operation}Response xmlns=\"{namespace}\"><{operation}Result>{inner}</{operation}Result>\
             <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{operation}Response>"
        ),
    }
}

/// A query-protocol error answer.
pub fn xml_error(operation: &'static str, status: u16, code: &str, message: &str) -> Answer {
    Answer {
        operation,
        status,
        body: format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>1</RequestId></ErrorResponse>"
        ),
    }
}

pub struct FakeAws {
    pub endpoint: String,
    served: Arc<Mutex<Vec<String>>>,
    /// (requests being answered now, the most ever at once)
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl FakeAws {
    pub fn start(script: Vec<Answer>) -> Self {
        Self::start_with_delay(script, std::time::Duration::ZERO)
    }

    /// Each answer is held `delay` before it is sent, so that concurrent requests overlap.
    pub fn start_with_delay(script: Vec<Answer>, delay: std::time::Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        let in_flight = Arc::new(Mutex::new((0, 0)));
        let flight = in_flight.clone();
        let script = Arc::new(Mutex::new(script.into_iter().map(Some).collect::<Vec<_>>()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, script, flight) = (log.clone(), script.clone(), flight.clone());
                std::thread::spawn(move || serve(stream, &log, &script, &flight, delay));
            }
        });
        FakeAws { endpoint, served, in_flight }
    }

    /// The most requests ever answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().1
    }

    /// The operations served so far, in order.
    pub fn served(&self) -> Vec<String> {
        self.served.lock().unwrap().clone()
    }

    /// A Context whose clients all talk to this endpoint, with the blog's deployment names.
    pub async fn context(&self) -> Context {
        let creds = aws_sdk_sts::config::Credentials::new("AKIDTEST", "secret", None, None, "test");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let names =
            DeploymentArgs { name: None, s3_stack: None, catalog_stack: None, product_name: None, ssm_prefix: None }
                .resolve();
        Context::from_sdk(&sdk, names, OutputFormat::Json, Progress::new(true, true), crate::aws::pacing::Pacing::new())
            .unwrap()
    }
}

fn serve(
    stream: std::net::TcpStream,
    log: &Mutex<Vec<String>>,
    script: &Mutex<Vec<Option<Answer>>>,
    flight: &Mutex<(usize, usize)>,
    delay: std::time::Duration,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut target = None;
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = v.trim().rsplit('.').next().map(str::to_owned),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body);
        let op = target.unwrap_or_else(|| {
            body.split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("unknown").to_owned()
        });
        log.lock().unwrap().push(op.clone());
        {
            let mut f = flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        std::thread::sleep(delay);
        flight.lock().unwrap().0 -= 1;
        let answer = {
            let mut script = script.lock().unwrap();
            script.iter_mut().find(|a| a.as_ref().is_some_and(|a| a.operation == op)).and_then(Option::take)
        };
        let (status, body, kind) = match answer {
            Some(a) if a.body.starts_with('<') => (a.status, a.body, "text/xml"),
            Some(a) => (a.status, a.body, "application/x-amz-json-1.1"),
            None => (
                500,
                format!("{{\"__type\":\"InternalFailure\",\"message\":\"no scripted answer for {op}\"}}"),
                "application/x-amz-json-1.1",
            ),
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nx-amzn-RequestId: 1\r\n\r\n",
            body.len()
        );
        if out.write_all(head.as_bytes()).and_then(|_| out.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}
