//! Typed errors behind the documented exit codes, and AWS errors that always show code and message.

use std::fmt;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// Exit codes documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const AWS: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TIMEOUT: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

/// Failures that are not "an AWS operation failed" (exit 1): each has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input or usage, detected before any write (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A wait exceeded `--timeout` (exit 3). The message says what was pending and how to resume.
    #[error("{0}")]
    Timeout(String),
    /// Ctrl-C / SIGTERM (exit 130).
    #[error("{0}")]
    Interrupted(String),
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Failure::Usage(msg.into()).into()
}

/// Exit code for an error chain: the first typed failure found decides, anything else is exit 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return match f {
                Failure::Usage(_) => exit::USAGE,
                Failure::Timeout(_) => exit::TIMEOUT,
                Failure::Interrupted(_) => exit::INTERRUPTED,
            };
        }
    }
    exit::AWS
}

/// An AWS call that failed, with the service's error code and message kept apart so callers can
/// branch on the code (`ResourceNotFoundException`, `ValidationError`...).
#[derive(Debug)]
pub struct AwsError {
    pub code: Option<String>,
    pub message: String,
    /// Throttling, 5xx, timeouts and broken connections: worth polling again.
    pub transient: bool,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AwsError {}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

impl AwsError {
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(se) => {
                code.as_deref().is_some_and(|c| THROTTLING_CODES.contains(&c)) || se.raw().status().is_server_error()
            }
            _ => false,
        };
        let message = match (&err, err.message()) {
            (SdkError::ServiceError(_), Some(m)) => m.to_owned(),
            _ => chain_line(&err),
        };
        AwsError { code, message, transient }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// A failure that is not the service's answer (dispatch failure, timeout, unparsable response), as
/// one short line: the Display of each error in the source chain. Not DisplayErrorContext, which
/// appends the Debug form of the whole chain (connector internals, sometimes the request or the
/// raw response, kilobytes long).
fn chain_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    let line = parts.join(": ");
    const MAX: usize = 300;
    if line.len() <= MAX {
        return line;
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// `.aws(|| "what we were doing")` on any SDK result: keeps code and message, adds context.
pub trait AwsResultExt<T> {
    fn aws<C: fmt::Display + Send + Sync + 'static>(self, context: impl FnOnce() -> C) -> anyhow::Result<T>;
}

impl<T, E> AwsResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn aws<C: fmt::Display + Send + Sync + 'static>(self, context: impl FnOnce() -> C) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(AwsError::from_sdk(e)).context(context()))
    }
}

/// The AWS error inside an anyhow chain, if any.
pub fn aws_error(err: &anyhow::Error) -> Option<&AwsError> {
    err.chain().find_map(|c| c.downcast_ref::<AwsError>())
}

/// True when the chain holds an AWS error with one of these codes.
pub fn has_code(err: &anyhow::Error, codes: &[&str]) -> bool {
    aws_error(err).is_some_and(|e| codes.iter().any(|c| e.is(c)))
}

/// True when the chain holds a transient AWS error (a polling loop tries again).
pub fn is_transient(err: &anyhow::Error) -> bool {
    aws_error(err).is_some_and(|e| e.transient)
}

/// True when the chain holds an access denial: the one answer that means a missing permission.
pub fn is_denied(err: &anyhow::Error) -> bool {
    has_code(err, &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"])
}

/// True when the chain holds an AWS error whose message contains `text`.
pub fn message_contains(err: &anyhow::Error, text: &str) -> bool {
    aws_error(err).is_some_and(|e| e.message.contains(text))
}
