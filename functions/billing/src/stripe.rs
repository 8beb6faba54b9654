//! A thin client of the Stripe API over `aloft-outbound` (the HTTP/TLS stack every
//! function already links): form bodies with Stripe's bracketed keys
//! (`metadata[user_id]`), the secret key as a bearer token, an `Idempotency-Key` on
//! every POST, and bounded time for every call.
//!
//! Failures are sorted for clients (docs/api.md): a request Stripe refuses (400, 402, 404 and
//! the other request-caused 4xx) is our 400 with Stripe's message; our key refused
//! (401/403), rate limits (429), Stripe's own errors (5xx), timeouts and an unreachable
//! API are 503. A 409 `idempotency_key_in_use` (the same key is still being processed)
//! waits and sends the same request again, a bounded number of times.

pub mod objects;

use std::{sync::Arc, time::Duration};

use aloft_core::ApiError;
use aloft_outbound::{Client, OutboundError, read_body};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;
use tokio::time::Instant;

/// Largest answer we read; a page of 100 invoices is far below it.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Sends of one request while Stripe says its key is in use.
const IN_USE_ATTEMPTS: u32 = 5;
/// The first wait after `idempotency_key_in_use`; each later wait is longer.
const IN_USE_WAIT: Duration = Duration::from_millis(150);

/// Bounds on every Stripe call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP and TLS connection.
    pub connect: Duration,
    /// The status line, and then the whole body.
    pub first_byte: Duration,
    /// One call, its waits for an in-use key included.
    pub call: Duration,
}

/// Where Stripe is and how we sign in to it.
#[derive(Clone)]
pub struct StripeSettings {
    /// No trailing slash; `STRIPE_API_BASE`, default `https://api.stripe.com`.
    pub api_base: String,
    /// `STRIPE_SECRET_KEY`; without it every Stripe call is a 503 naming it.
    pub secret_key: Option<String>,
    pub timeouts: Timeouts,
}

/// The key stays out of every `Debug` print (and so out of logs).
impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_base", &self.api_base)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// Request parameters in Stripe's notation: nested keys in brackets
/// (`line_items[0][price]`), sent in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// `application/x-www-form-urlencoded`, as a body or a query string.
    pub fn encode(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
    }
}

/// Why a Stripe call gave no object.
#[derive(Debug)]
pub enum StripeError {
    /// No `STRIPE_SECRET_KEY`.
    NotConfigured,
    /// Stripe refused the request itself; its message says why (for the client).
    Refused(String),
    /// Stripe could not be used now; the reason is for the logs only.
    Unavailable(String),
}

impl From<StripeError> for ApiError {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::NotConfigured => ApiError::ServiceUnavailable {
                message: "Billing is not configured: set STRIPE_SECRET_KEY".into(),
                details: Some(json!({ "configure": ["STRIPE_SECRET_KEY"] })),
                retry_after: None,
            },
            StripeError::Refused(message) => ApiError::BadRequest(message.into()),
            StripeError::Unavailable(reason) => {
                tracing::warn!(
                    stripe.error = reason.as_str(),
                    "Stripe unavailable: {reason}"
                );
                ApiError::unavailable("The billing provider is unavailable; try again shortly")
            }
        }
    }
}

/// Stripe's error body: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: WireError,
}

#[derive(Debug, Default, Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// What one send got.
enum Answer {
    Body(Bytes),
    /// 409 `idempotency_key_in_use`: the first request with this key is still running.
    KeyInUse,
}

/// The Stripe API; built once per cold start, cheap to clone.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    base: Arc<str>,
    key: Option<Arc<str>>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Stripe {
    pub fn new(settings: &StripeSettings) -> Self {
        Self {
            client: Client::new(settings.timeouts.connect),
            base: settings.api_base.as_str().into(),
            key: settings.secret_key.as_deref().map(Arc::from),
            timeouts: settings.timeouts,
        }
    }

    /// [`StripeError::NotConfigured`] without a key, so a route can say so before any
    /// other work.
    pub fn require_key(&self) -> Result<(), StripeError> {
        self.key
            .as_ref()
            .map(|_| ())
            .ok_or(StripeError::NotConfigured)
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Form,
    ) -> Result<T, StripeError> {
        self.call(Method::GET, path, query, None).await
    }

    /// A POST with `form`; Stripe answers a repeat of `idempotency_key` (same
    /// parameters) with the first answer instead of acting twice.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        self.call(Method::POST, path, form, Some(idempotency_key))
            .await
    }

    /// DELETE is idempotent by itself; Stripe ignores keys on it.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        self.call(Method::DELETE, path, &Form::new(), None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let key = self.key.as_deref().ok_or(StripeError::NotConfigured)?;
        let deadline = Instant::now() + self.timeouts.call;
        let late = || StripeError::Unavailable(format!("{method} {path}: no answer in time"));
        let mut attempt = 1;
        loop {
            let send = self.send(&method, path, form, idempotency_key, key);
            match tokio::time::timeout_at(deadline, send)
                .await
                .map_err(|_| late())??
            {
                Answer::Body(body) => {
                    return serde_json::from_slice(&body).map_err(|e| {
                        StripeError::Unavailable(format!("{method} {path}: unreadable answer: {e}"))
                    });
                }
                Answer::KeyInUse if attempt < IN_USE_ATTEMPTS => {
                    let wait = Instant::now() + IN_USE_WAIT * attempt;
                    if wait >= deadline {
                        return Err(late());
                    }
                    tokio::time::sleep_until(wait).await;
                    attempt += 1;
                }
                Answer::KeyInUse => {
                    return Err(StripeError::Unavailable(format!(
                        "{method} {path}: idempotency key still in use after {attempt} attempts"
                    )));
                }
            }
        }
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
        key: &str,
    ) -> Result<Answer, StripeError> {
        let unusable =
            |e: &dyn std::fmt::Display| StripeError::Unavailable(format!("{method} {path}: {e}"));
        let encoded = form.encode();
        let mut uri = format!("{}{path}", self.base);
        let mut builder = Request::builder()
            .method(method.clone())
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::ACCEPT, "application/json");
        let body = if method == Method::POST {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            encoded
        } else {
            if !encoded.is_empty() {
                uri.push('?');
                uri.push_str(&encoded);
            }
            String::new()
        };
        if let Some(idempotency_key) = idempotency_key {
            builder = builder.header("idempotency-key", idempotency_key);
        }
        // The builder's error names what is wrong, never the header's value (the key).
        let request = builder
            .uri(uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unusable(&e))?;
        let response = self
            .client
            .send(request, self.timeouts.first_byte)
            .await
            .map_err(|e| unusable(&e))?;
        let status = response.status();
        let body = read_body(response, MAX_ANSWER_BYTES, self.timeouts.first_byte)
            .await
            .map_err(|e: OutboundError| unusable(&e))?;
        if status.is_success() {
            return Ok(Answer::Body(body));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_default();
        classify(status, error).map_err(|e| match e {
            StripeError::Unavailable(reason) => unusable(&reason),
            other => other,
        })
    }
}

/// A Stripe error answer, sorted into "ask again", "the request is wrong" and
/// "Stripe cannot be used now".
fn classify(status: StatusCode, error: WireError) -> Result<Answer, StripeError> {
    let kind = error.kind.as_deref().unwrap_or("unknown");
    match status.as_u16() {
        409 if error.code.as_deref() == Some("idempotency_key_in_use") => Ok(Answer::KeyInUse),
        // Our key is wrong or lacks a permission: nothing the caller can change. Stripe's
        // message quotes part of the key, so it is not passed on.
        401 | 403 => Err(StripeError::Unavailable(format!(
            "Stripe refused our key ({status}, {kind})"
        ))),
        409 | 429 => Err(StripeError::Unavailable(format!(
            "Stripe asked to retry later ({status}, {kind})"
        ))),
        400..=499 => Err(StripeError::Refused(error.message.unwrap_or_else(|| {
            format!("The billing provider refused the request ({status})")
        }))),
        _ => Err(StripeError::Unavailable(format!(
            "Stripe failed ({status}, {kind}): {}",
            error.message.as_deref().unwrap_or("no message")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(code: Option<&str>, message: Option<&str>) -> WireError {
        WireError {
            kind: Some("invalid_request_error".into()),
            code: code.map(str::to_owned),
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn forms_keep_brackets_order_and_encode_values() {
        let form = Form::new()
            .with("line_items[0][price]", "price_1")
            .with("metadata[user_id]", "u 1&x");
        assert_eq!(
            form.encode(),
            "line_items%5B0%5D%5Bprice%5D=price_1&metadata%5Buser_id%5D=u+1%26x"
        );
    }

    #[test]
    fn request_caused_errors_are_refusals_with_stripes_message() {
        for status in [400, 402, 404] {
            let status = StatusCode::from_u16(status).unwrap();
            let refused = classify(status, wire(None, Some("Your card was declined.")));
            assert!(
                matches!(refused, Err(StripeError::Refused(ref m)) if m == "Your card was declined."),
                "{status}"
            );
        }
    }

    #[test]
    fn key_rate_limit_and_server_errors_are_unavailable() {
        for status in [401, 403, 409, 429, 500, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            let error = classify(
                status,
                wire(None, Some("Invalid API Key provided: sk_****")),
            );
            let Err(StripeError::Unavailable(reason)) = error else {
                panic!("{status} is not unavailable");
            };
            if status.as_u16() < 500 {
                assert!(!reason.contains("sk_"), "{reason}");
            }
        }
    }

    #[test]
    fn a_key_in_use_is_asked_again() {
        let answer = classify(
            StatusCode::CONFLICT,
            wire(Some("idempotency_key_in_use"), None),
        );
        assert!(matches!(answer, Ok(Answer::KeyInUse)));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let settings = StripeSettings {
            api_base: "https://api.stripe.com".into(),
            secret_key: Some("sk_test_very_secret".into()),
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(1),
                call: Duration::from_secs(1),
            },
        };
        assert!(!format!("{settings:?}").contains("sk_test_very_secret"));
        let stripe = Stripe::new(&settings);
        assert!(!format!("{stripe:?}").contains("sk_test_very_secret"));
    }
}
