//! Invoking a function the way the Lambda service does: through cargo lambda watch's
//! implementation of the Lambda Invoke API.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header::CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::Value;

use crate::wire::with_causes;

/// Something that runs a function on an event and returns its answer.
pub trait Invoke {
    /// Runs `function` on `event`. `Ok` carries the function's answer (`Null` when it
    /// returned nothing); a function error is an `Err`, as Lambda reports it.
    fn invoke(
        &self,
        function: &str,
        event: Value,
    ) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

/// Why an invocation did not produce an answer. Any of these fails the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The function ran and failed (a panic, an `Err` from the handler, an init error).
    #[error("function error {error_type}: {error_message}")]
    Function {
        error_type: String,
        error_message: String,
    },
    /// The Invoke API answered with a status other than 2xx and no Lambda error object.
    #[error("invoke API answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The answer is not JSON.
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The base URL does not make a valid request URL.
    #[error("invalid invoke URL {0}")]
    InvalidUrl(String),
    /// cargo lambda watch could not be reached.
    #[error("invoke API unreachable: {0}")]
    Unreachable(String),
}

/// cargo lambda watch's default address; `ALOFT_API_URL` overrides it.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:9000";

/// Lambda stops a worker at its `Timeout` (at most 30 s here), but locally the first
/// invocation also waits for cargo lambda watch to start, and maybe build, the function.
pub const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest part of an unexpected answer kept in an error (it ends up in the logs).
const BODY_EXCERPT: usize = 300;

/// Invokes functions through the Lambda Invoke API at `base_url`
/// (`POST {base_url}/2015-03-31/functions/{function}/invocations`), plain HTTP.
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    client: Client<HttpConnector, Full<Bytes>>,
    base_url: String,
    timeout: Duration,
}

impl HttpInvoker {
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    async fn post(
        &self,
        function: &str,
        event: &Value,
    ) -> Result<(StatusCode, HeaderMap, Bytes), InvokeError> {
        let uri = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        // A `Value` displays as compact JSON.
        let request = http::Request::post(&uri)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(|e| InvokeError::InvalidUrl(format!("{uri}: {e}")))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| InvokeError::Unreachable(with_causes(&e)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| InvokeError::Unreachable(with_causes(&e)))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

impl Invoke for HttpInvoker {
    async fn invoke(&self, function: &str, event: Value) -> Result<Value, InvokeError> {
        let (status, headers, body) =
            tokio::time::timeout(self.timeout, self.post(function, &event))
                .await
                .map_err(|_| InvokeError::Timeout(self.timeout))??;
        answer(status, &headers, &body)
    }
}

/// Reads an Invoke API response. AWS answers a function error with 200 and an
/// `X-Amz-Function-Error` header; cargo lambda watch with 500, or 200 for an init error;
/// all carry the Lambda error object `{"errorType", "errorMessage"}`.
fn answer(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<Value, InvokeError> {
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(body)
    };
    if let Ok(value) = &parsed
        && let Some(error) = lambda_error(value)
    {
        return Err(error);
    }
    if !status.is_success() || headers.contains_key("x-amz-function-error") {
        return Err(InvokeError::Status {
            status: status.as_u16(),
            body: excerpt(body),
        });
    }
    parsed.map_err(|e| InvokeError::InvalidAnswer(format!("{e}: {}", excerpt(body))))
}

fn lambda_error(value: &Value) -> Option<InvokeError> {
    let error_type = value.get("errorType")?.as_str()?;
    let error_message = value.get("errorMessage")?.as_str()?;
    Some(InvokeError::Function {
        error_type: error_type.to_owned(),
        error_message: error_message.to_owned(),
    })
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(BODY_EXCERPT)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(status: u16, body: &str) -> Result<Value, InvokeError> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        answer(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn a_lambda_error_object_is_a_function_error_whatever_the_status() {
        let body = r#"{"errorType":"Panic","errorMessage":"boom"}"#;
        for status in [200, 500] {
            assert_eq!(
                read(status, body),
                Err(InvokeError::Function {
                    error_type: "Panic".into(),
                    error_message: "boom".into()
                })
            );
        }
    }

    #[test]
    fn an_empty_answer_is_null_and_a_json_answer_is_kept() {
        assert_eq!(read(200, ""), Ok(Value::Null));
        assert_eq!(
            read(200, r#"{"batchItemFailures":[]}"#),
            Ok(json!({"batchItemFailures": []}))
        );
    }

    #[test]
    fn a_failed_status_or_a_non_json_answer_is_an_error() {
        assert!(matches!(
            read(502, "bad gateway"),
            Err(InvokeError::Status { status: 502, .. })
        ));
        assert!(matches!(
            read(200, "not json"),
            Err(InvokeError::InvalidAnswer(_))
        ));
    }
}
