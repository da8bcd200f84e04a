//! Client-side pacing: one rate limiter per AWS API per run, fed by AWS's throttling answers, and
//! a count of what was sent, retried and throttled.
//!
//! AWS throttles per account and per API (a token bucket on its side: Parameter Store's throughput
//! quota, SageMaker's and Service Catalog's request rates) and answers `ThrottlingException` beyond
//! it. Fanning out `--concurrency` requests regardless turns into retry storms. So every request of
//! every client of a run goes through one [`Pacing`], which keeps a [`Pacer`] per API:
//!
//! - unpaced until the API first throttles (an account with raised quotas is never slowed down);
//! - on a throttle, the rate becomes what AWS let through since the last adjustment (successes per
//!   second: with the server's bucket empty, that is its refill rate, i.e. the quota), a little
//!   under it; the first time, half of it, because the server's burst inflated that first count;
//!   throttles within a cool-down of an adjustment belong to the same episode and are not counted
//!   twice (requests already in flight);
//! - between throttles the rate grows a few percent a second, to find a raised quota or a quota
//!   that the server's refilled burst hid.
//!
//! Why not the SDK's adaptive retry mode: its client rate limiter (aws-smithy-runtime
//! `client_rate_limiter.rs`) lives in a process-wide map keyed by retry partition, which defaults
//! to the service: every operation of a service shares one limiter (SageMaker's presign and
//! describe, whose quotas are separate), and every throttled answer multiplies the rate by 0.7 with
//! no cool-down, so a burst of 8 throttled in-flight requests cuts it to 6 % before its cubic
//! recovery; before the first throttle its measured rate is 0.5/s, so the first cut lands at the
//! 0.5/s floor. The generated clients offer no public hook for a custom retry strategy, so pacing
//! sits in the HTTP connector, where every attempt (first or retry) passes, and the SDK's standard
//! retry mode keeps doing the backoff.
//!
//! `--concurrency` stays the upper bound of requests in flight; the pacer only delays them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde::Serialize;

/// Throttles within this long of an adjustment are the same episode (answers to requests that were
/// already in flight), unless enough successes came since to measure the quota again.
const COOL_DOWN: Duration = Duration::from_millis(500);
/// Successes that make a measurement (with at least `MIN_WINDOW` behind it).
const MEASURE: u64 = 8;
const MIN_WINDOW: Duration = Duration::from_millis(100);
/// Growth of the rate between throttles, per second.
const GROWTH_PER_SECOND: f64 = 0.05;
/// How far under the measured quota the rate is set after a throttle.
const UNDER: f64 = 0.95;
/// Never slower than this (requests per second).
const FLOOR: f64 = 0.5;
/// Error codes the Rust SDK's retry classifier treats as throttling (aws-runtime
/// `retries::classifiers::THROTTLING_ERRORS`), so the pacer and the SDK's backoff agree.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// The rate limiter of one API.
#[derive(Debug)]
pub struct Pacer {
    /// Requests per second; None until the API first throttles.
    rate: Option<f64>,
    /// Earliest moment the next request may go.
    next: Instant,
    /// Start of the current measurement window (the last adjustment).
    window_start: Instant,
    successes: u64,
    last_cut: Option<Instant>,
    last_grow: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Pacer { rate: None, next: now, window_start: now, successes: 0, last_cut: None, last_grow: now }
    }

    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Take the slot for one request now, or say how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Instant) -> Option<Duration> {
        let rate = self.rate?;
        let cooling = self.last_cut.is_some_and(|c| now.saturating_duration_since(c) < COOL_DOWN);
        let dt = now.saturating_duration_since(self.last_grow).min(Duration::from_secs(1)).as_secs_f64();
        self.last_grow = now;
        let rate = if cooling { rate } else { rate * (1.0 + GROWTH_PER_SECOND * dt) };
        self.rate = Some(rate);
        if self.next > now {
            return Some(self.next - now);
        }
        // A request that comes late does not bank more than two intervals of credit.
        let interval = Duration::from_secs_f64(1.0 / rate);
        let earliest = now.checked_sub(interval * 2).unwrap_or(now);
        self.next = self.next.max(earliest) + interval;
        None
    }

    pub fn on_success(&mut self) {
        self.successes += 1;
    }

    /// A throttling answer: set the rate to what AWS let through since the last adjustment.
    pub fn on_throttle(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.window_start);
        let measured = self.successes >= MEASURE && since >= MIN_WINDOW;
        if self.last_cut.is_some() && since < COOL_DOWN && !measured {
            return;
        }
        let window = since.max(MIN_WINDOW);
        let let_through = self.successes as f64 / window.as_secs_f64();
        let rate = match self.rate {
            // The first window includes the server's burst: halve, the next throttle measures again.
            None => let_through * 0.5,
            Some(rate) => rate.min(let_through) * UNDER,
        };
        self.rate = Some(rate.max(FLOOR));
        self.last_cut = Some(now);
        self.window_start = now;
        self.successes = 0;
        tracing::debug!(rate = self.rate, "throttled: pacing adjusted");
    }
}

/// What one API saw in this run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ApiCalls {
    /// HTTP requests sent (first attempts and retries).
    pub sent: u64,
    /// Of those, retries (attempt > 1, from the SDK's `amz-sdk-request` header).
    pub retried: u64,
    /// Answers that were throttling errors.
    pub throttled: u64,
    /// The pace at the end of the run (requests per second), when the API throttled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paced_at: Option<f64>,
}

/// Totals of a run, and per API.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CallStats {
    pub sent: u64,
    pub retried: u64,
    pub throttled: u64,
    pub by_api: BTreeMap<String, ApiCalls>,
}

impl std::fmt::Display for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AWS calls: {} sent, {} retried, {} throttled", self.sent, self.retried, self.throttled)?;
        let paced: Vec<String> =
            self.by_api.iter().filter_map(|(api, c)| c.paced_at.map(|r| format!("{api} {r:.1}/s"))).collect();
        if !paced.is_empty() {
            write!(f, "; paced: {}", paced.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct State {
    pacers: HashMap<String, Pacer>,
    calls: BTreeMap<String, ApiCalls>,
}

/// The run's pacers and counters, shared by every client (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Pacing {
    state: Arc<Mutex<State>>,
}

impl Pacing {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    async fn acquire(&self, api: &str) {
        loop {
            let wait = self.with(|s| {
                s.pacers.entry(api.to_owned()).or_insert_with(|| Pacer::new(Instant::now())).try_acquire(Instant::now())
            });
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    fn record(&self, api: &str, retry: bool, outcome: Outcome) {
        self.with(|s| {
            let calls = s.calls.entry(api.to_owned()).or_default();
            calls.sent += 1;
            calls.retried += u64::from(retry);
            let pacer = s.pacers.entry(api.to_owned()).or_insert_with(|| Pacer::new(Instant::now()));
            match outcome {
                Outcome::Success => pacer.on_success(),
                Outcome::Throttled => {
                    calls.throttled += 1;
                    pacer.on_throttle(Instant::now());
                }
                Outcome::Other => {}
            }
        })
    }

    /// What this run has sent so far.
    pub fn stats(&self) -> CallStats {
        self.with(|s| {
            let mut stats = CallStats::default();
            for (api, calls) in &s.calls {
                let mut calls = calls.clone();
                calls.paced_at = s.pacers.get(api).and_then(Pacer::rate).map(|r| (r * 10.0).round() / 10.0);
                stats.sent += calls.sent;
                stats.retried += calls.retried;
                stats.throttled += calls.throttled;
                stats.by_api.insert(api.clone(), calls);
            }
            stats
        })
    }

    /// Wrap the HTTP client every SDK client of the run uses.
    pub fn http_client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(PacedClient { inner, pacing: self.clone() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Throttled,
    Other,
}

/// The API a request calls: the awsJson target (`AmazonSSM.PutParameter` -> `PutParameter`), the
/// query protocol's `Action`, `S3 <method>`, else the method and host.
fn api_of(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    if let Some(body) = request.body().bytes() {
        if let Some(action) = std::str::from_utf8(body)
            .ok()
            .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_owned))
        {
            return action;
        }
    }
    // S3 signs its payload hash into every request.
    if request.headers().contains_key("x-amz-content-sha256") {
        return format!("S3 {}", request.method());
    }
    let host = request.uri().split("//").nth(1).and_then(|h| h.split(['/', ':']).next()).unwrap_or("");
    format!("{} {host}", request.method())
}

/// `amz-sdk-request: attempt=2; max=6` (aws-runtime's request-info interceptor) marks a retry.
fn is_retry(request: &HttpRequest) -> bool {
    request
        .headers()
        .get("amz-sdk-request")
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n > 1)
}

fn is_throttling(status: u16, error_type: Option<&str>, body: &[u8]) -> bool {
    if status == 429 {
        return true;
    }
    let code_of = |s: &str| {
        // awsJson `__type` may carry a namespace (`ns#Code`) or a suffix (`Code:http://...`).
        let s = s.rsplit('#').next().unwrap_or(s);
        s.split(':').next().unwrap_or(s).trim().to_owned()
    };
    if let Some(t) = error_type {
        if THROTTLING_CODES.contains(&code_of(t).as_str()) {
            return true;
        }
    }
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(t) = v.get("__type").or_else(|| v.get("code")).and_then(|t| t.as_str()) {
            return THROTTLING_CODES.contains(&code_of(t).as_str());
        }
    }
    // XML (query protocol, S3): <Code>Throttling</Code>
    THROTTLING_CODES.iter().any(|c| text.contains(&format!("<Code>{c}</Code>")))
}

#[derive(Debug)]
struct PacedClient {
    inner: SharedHttpClient,
    pacing: Pacing,
}

impl HttpClient for PacedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacing: self.pacing.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacing: Pacing,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let pacing = self.pacing.clone();
        HttpConnectorFuture::new(async move {
            let api = api_of(&request);
            let retry = is_retry(&request);
            pacing.acquire(&api).await;
            let result = inner.call(request).await;
            let mut response = match result {
                Ok(response) => response,
                Err(e) => {
                    pacing.record(&api, retry, Outcome::Other);
                    return Err(e);
                }
            };
            let status = response.status().as_u16();
            if status < 400 {
                pacing.record(&api, retry, Outcome::Success);
                return Ok(response);
            }
            // Error answers are small: read the body to find the error code, then hand it on.
            let body = ByteStream::new(response.take_body()).collect().await.map(|b| b.into_bytes());
            let outcome = match &body {
                Ok(bytes) if is_throttling(status, response.headers().get("x-amzn-errortype"), bytes) => {
                    Outcome::Throttled
                }
                _ => Outcome::Other,
            };
            pacing.record(&api, retry, outcome);
            match body {
                Ok(bytes) => {
                    *response.body_mut() = SdkBody::from(bytes);
                    Ok(response)
                }
                Err(e) => Err(aws_smithy_runtime_api::client::result::ConnectorError::io(e.into())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive a pacer against a simulated server bucket (capacity = rate, refill at rate) on a
    /// simulated clock, sending as fast as the pacer allows.
    fn simulate(quota: f64, seconds: f64) -> (u64, u64) {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        let (mut tokens, mut last) = (quota, 0.0_f64);
        let (mut ok, mut throttled) = (0u64, 0u64);
        let mut t = 0.0_f64;
        while t < seconds {
            let now = t0 + Duration::from_secs_f64(t);
            match pacer.try_acquire(now) {
                Some(wait) => t += wait.as_secs_f64().max(1e-4),
                None => {
                    tokens = (tokens + (t - last) * quota).min(quota);
                    last = t;
                    // the answer comes back 5 ms later
                    let answered = t0 + Duration::from_secs_f64(t + 0.005);
                    if tokens >= 1.0 {
                        tokens -= 1.0;
                        ok += 1;
                        pacer.on_success();
                    } else {
                        throttled += 1;
                        pacer.on_throttle(answered);
                    }
                    t += 0.002; // an unpaced client sends every 2 ms
                }
            }
        }
        (ok, throttled)
    }

    #[test]
    fn unthrottled_api_is_not_paced() {
        let now = Instant::now();
        let mut p = Pacer::new(now);
        for _ in 0..1000 {
            assert_eq!(p.try_acquire(now), None);
        }
    }

    #[test]
    fn converges_to_the_quota_with_few_throttles() {
        for quota in [5.0, 20.0, 40.0] {
            let (ok, throttled) = simulate(quota, 120.0);
            let rate = ok as f64 / 120.0;
            assert!(rate >= 0.9 * quota, "quota {quota}: {rate:.1}/s");
            assert!(rate <= 1.05 * quota + 1.0, "quota {quota}: {rate:.1}/s");
            // Probing costs a few throttles per cycle of some seconds whatever the quota: under 5 %
            // of the calls at AWS-like rates, more at a very low quota (fewer calls per cycle).
            let bound = if quota >= 20.0 { 0.05 } else { 0.10 };
            assert!((throttled as f64) < bound * ok as f64, "quota {quota}: {throttled} throttled of {ok}");
        }
    }

    #[test]
    fn throttling_codes_in_every_shape() {
        assert!(is_throttling(400, None, br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#));
        assert!(is_throttling(400, None, br#"{"__type":"com.amazon.coral#ThrottlingException"}"#));
        assert!(is_throttling(400, Some("ThrottlingException:http://internal.amazon.com/"), b""));
        assert!(is_throttling(400, None, b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"));
        assert!(is_throttling(503, None, b"<Error><Code>SlowDown</Code></Error>"));
        assert!(!is_throttling(400, None, br#"{"__type":"ValidationException","message":"Rate exceeded"}"#));
        assert!(!is_throttling(400, None, br#"{"__type":"ParameterNotFound"}"#));
    }
}
