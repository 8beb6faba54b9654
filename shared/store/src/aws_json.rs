//! AWS JSON 1.1 calls made without an SDK client (SSM `GetParameters` at cold start, KMS
//! `Encrypt`/`Decrypt` for organizations' provider keys): a POST signed with SigV4 that
//! names its operation in `X-Amz-Target`, retried after a transport error, a timeout, a
//! 5xx or throttling. No SDK clients for these: binary size and cold start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aloft_outbound::{Client, OutboundError, read_body};
use aws_sigv4::http_request::{SignableBody, SigningSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde::Deserialize;

use crate::signing::Signer;

/// Each attempt's wait for the answer, and for its body.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One AWS JSON 1.1 service endpoint.
#[derive(Debug, Clone)]
pub(crate) struct AwsJson {
    url: String,
    region: String,
    /// The signing name: `ssm`, `kms`.
    service: &'static str,
    http: Client,
}

impl AwsJson {
    /// The service at `endpoint` (an emulator's), else in `region` on AWS.
    pub fn new(endpoint: Option<&str>, region: &str, service: &'static str) -> Self {
        let endpoint = endpoint.map_or_else(
            || format!("https://{service}.{region}.amazonaws.com"),
            |e| e.trim_end_matches('/').to_owned(),
        );
        Self {
            url: format!("{endpoint}/"),
            region: region.to_owned(),
            service,
            http: Client::new(CONNECT_TIMEOUT),
        }
    }

    /// The answer's body to `target` (`AmazonSSM.GetParameters`) with `body`, signed as
    /// `identity`, at most `max_answer` bytes; retried as [`ATTEMPTS`] says. The error
    /// names the operation and the service's error, never the body.
    pub async fn call(
        &self,
        identity: &Identity,
        target: &str,
        body: &[u8],
        max_answer: usize,
    ) -> Result<Bytes, String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self.attempt(identity, target, body, max_answer).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Retry(reason)) => last = reason,
                Err(Failure::Final(reason)) => return Err(reason),
            }
        }
        Err(format!("{last} ({ATTEMPTS} attempts)"))
    }

    async fn attempt(
        &self,
        identity: &Identity,
        target: &str,
        body: &[u8],
        max_answer: usize,
    ) -> Result<Bytes, Failure> {
        let signer = Signer {
            identity,
            region: &self.region,
            service: self.service,
            time: SystemTime::now(),
        };
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let signed = signer
            .sign(
                SigningSettings::default(),
                Method::POST,
                &self.url,
                &headers,
                SignableBody::Bytes(body),
            )
            .map_err(Failure::Final)?;
        let (parts, ()) = signed.into_parts();
        let request = Request::from_parts(parts, Full::new(Bytes::copy_from_slice(body)));
        let response = self
            .http
            .send(request, ATTEMPT_TIMEOUT)
            .await
            .map_err(Failure::transport)?;
        let status = response.status();
        let bytes = read_body(response, max_answer, ATTEMPT_TIMEOUT)
            .await
            .map_err(Failure::transport)?;
        if status.is_success() {
            return Ok(bytes);
        }
        let (kind, message) = aws_error(&bytes);
        let operation = target.rsplit('.').next().unwrap_or(target);
        let reason = format!("{operation} answered {status}: {kind}: {message}");
        if status.is_server_error() || kind == "ThrottlingException" {
            Err(Failure::Retry(reason))
        } else {
            Err(Failure::Final(reason))
        }
    }
}

enum Failure {
    /// Worth another attempt.
    Retry(String),
    Final(String),
}

impl Failure {
    fn transport(error: OutboundError) -> Self {
        match error {
            OutboundError::TooLarge(_) => Self::Final(error.to_string()),
            _ => Self::Retry(error.to_string()),
        }
    }
}

/// Doubling from 100 ms, with jitter so throttled callers (many cold starts at once) do
/// not retry in step. The clock's nanoseconds are random enough for spreading retries.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100) * 2_u32.pow(attempt - 1);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
}

/// The `__type` (without its namespace) and `message` of an AWS JSON error.
fn aws_error(bytes: &[u8]) -> (String, String) {
    #[derive(Deserialize)]
    struct Error {
        #[serde(rename = "__type", default)]
        kind: String,
        #[serde(alias = "Message", default)]
        message: String,
    }
    let Ok(error) = serde_json::from_slice::<Error>(bytes) else {
        return ("an answer that is not an AWS error".into(), String::new());
    };
    let kind = error.kind.rsplit('#').next().unwrap_or_default();
    let kind = kind.split(':').next().unwrap_or_default().to_owned();
    (kind, error.message.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_their_namespace() {
        let body = br#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"no"}"#;
        assert_eq!(
            aws_error(body),
            ("AccessDeniedException".into(), "no".into())
        );
        assert_eq!(aws_error(b"<html>").1, "");
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let first = backoff(1);
        let second = backoff(2);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
    }
}
