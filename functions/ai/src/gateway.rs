//! Calling providers: one model after another until one answers. A throttled (429),
//! failing (5xx), unreachable or slow provider hands the request to the next model of
//! the chain; a provider that refuses the request itself (another 4xx) ends it with 400
//! and the provider's message. Streams commit to a model once its first event arrives:
//! until then a failure still falls back, after it the stream is the client's.

use std::time::Duration;

use aloft_http::ApiError;
use aloft_outbound::{Client, OutboundError, read_body};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::time::Instant;

use crate::{
    config::{AiSettings, Model, Provider, Timeouts, Wire},
    providers::{self, Chunk, Completion, Prompt},
    sse,
};

/// Largest non-streamed answer we read (a 16k-token answer is well under this).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The provider and model that served a request.
#[derive(Debug, Clone)]
pub struct Served<T> {
    pub provider: &'static str,
    pub model: String,
    pub answer: T,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Worth trying the next model; the reason is for logs and the final 503.
    Retryable(String),
    /// The provider refused the request itself: the client must change it.
    Refused(String),
}

/// Calls providers for the AI routes; built once per cold start.
#[derive(Debug, Clone)]
pub struct Gateway {
    client: Client,
    timeouts: Timeouts,
}

impl Gateway {
    pub fn new(timeouts: Timeouts) -> Result<Self, String> {
        Ok(Self {
            client: Client::new(timeouts.connect)?,
            timeouts,
        })
    }

    /// A whole answer from the first model of `chain` that gives one.
    pub async fn complete(
        &self,
        settings: &AiSettings,
        chain: &[&Model],
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Served<Completion>, ApiError> {
        let mut failures = Vec::new();
        for model in chain {
            let Some(provider) = settings.provider(&model.provider) else {
                continue;
            };
            let prompt = fitted(prompt, model);
            match self.complete_once(provider, model, &prompt, deadline).await {
                Ok(answer) => return Ok(served(provider, model, answer)),
                Err(Failure::Refused(message)) => return Err(refused(provider, &message)),
                Err(Failure::Retryable(reason)) => failures.push(attempt(provider, model, reason)),
            }
        }
        Err(exhausted(failures))
    }

    /// An open stream from the first model of `chain` whose first event arrives in time.
    pub async fn open_stream(
        &self,
        settings: &AiSettings,
        chain: &[&Model],
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Served<Upstream>, ApiError> {
        let mut failures = Vec::new();
        for model in chain {
            let Some(provider) = settings.provider(&model.provider) else {
                continue;
            };
            let prompt = fitted(prompt, model);
            match self.open_once(provider, model, &prompt, deadline).await {
                Ok(upstream) => return Ok(served(provider, model, upstream)),
                Err(Failure::Refused(message)) => return Err(refused(provider, &message)),
                Err(Failure::Retryable(reason)) => failures.push(attempt(provider, model, reason)),
            }
        }
        Err(exhausted(failures))
    }

    async fn complete_once(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Completion, Failure> {
        let response = self.send(provider, model, prompt, false, deadline).await?;
        let left = remaining(deadline)?;
        let body = read_body(response, MAX_ANSWER_BYTES, left)
            .await
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        providers::completion(provider.wire, &body).map_err(Failure::Retryable)
    }

    async fn open_once(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Upstream, Failure> {
        let response = self.send(provider, model, prompt, true, deadline).await?;
        let mut upstream = Upstream {
            body: response.into_body(),
            parser: sse::Parser::default(),
            wire: provider.wire,
            ready: Vec::new(),
            gap: self.timeouts.first_byte,
            deadline,
        };
        // Commit only once the provider has really started answering.
        loop {
            let chunks = upstream.read().await.map_err(Failure::Retryable)?;
            let started = chunks
                .iter()
                .any(|c| matches!(c, Chunk::Text(_) | Chunk::Finish(_) | Chunk::End));
            if let Some(Chunk::Failed(reason)) =
                chunks.iter().find(|c| matches!(c, Chunk::Failed(_)))
            {
                return Err(Failure::Retryable(reason.clone()));
            }
            upstream.ready.extend(chunks);
            if started {
                return Ok(upstream);
            }
        }
    }

    /// Sends the request; a status other than 200 is a [`Failure`].
    async fn send(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        stream: bool,
        deadline: Instant,
    ) -> Result<http::Response<Incoming>, Failure> {
        let request =
            providers::request(provider, model, prompt, stream).map_err(Failure::Retryable)?;
        // Non-streamed answers come whole, so their first byte may take the whole
        // generation: only the deadline bounds them.
        let wait = if stream {
            self.timeouts.first_byte.min(remaining(deadline)?)
        } else {
            remaining(deadline)?
        };
        let response = self
            .client
            .send(request, wait)
            .await
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(response);
        }
        let body = read_body(
            response,
            64 * 1024,
            remaining(deadline)?.min(Duration::from_secs(5)),
        )
        .await
        .unwrap_or_default();
        Err(classify(provider, status, &body))
    }
}

/// The provider's failure, sorted into "try the next model" and "the request is wrong".
fn classify(provider: &Provider, status: StatusCode, body: &Bytes) -> Failure {
    let message = providers::error_message(body).map(|m| redact(provider, &m));
    let reason = match &message {
        Some(message) => format!("{status}: {message}"),
        None => status.to_string(),
    };
    match status.as_u16() {
        // Our credentials, not the client's request: another provider may still answer.
        // The provider's message may quote part of the key, so it is not passed on.
        401 | 403 => Failure::Retryable(format!(
            "{status}: {} rejected our credentials",
            provider.name
        )),
        408 | 409 | 429 => Failure::Retryable(reason),
        400..=499 => Failure::Refused(message.unwrap_or_else(|| status.to_string())),
        _ => Failure::Retryable(reason),
    }
}

/// A provider's message never carries our key back to a client.
fn redact(provider: &Provider, message: &str) -> String {
    match &provider.api_key {
        Some(key) if !key.is_empty() => message.replace(key.as_str(), "[redacted]"),
        _ => message.to_owned(),
    }
}

/// `max_tokens` within what `model` accepts (a fallback may accept less).
fn fitted(prompt: &Prompt, model: &Model) -> Prompt {
    let mut prompt = prompt.clone();
    prompt.max_tokens = prompt.max_tokens.min(model.max_output_tokens);
    prompt
}

fn remaining(deadline: Instant) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::Retryable("the request's deadline passed".into()))
    } else {
        Ok(left)
    }
}

fn served<T>(provider: &Provider, model: &Model, answer: T) -> Served<T> {
    Served {
        provider: provider.name,
        model: model.name.clone(),
        answer,
    }
}

fn attempt(provider: &Provider, model: &Model, reason: String) -> serde_json::Value {
    tracing::warn!(
        ai.provider = provider.name,
        ai.model = model.name,
        error.cause = reason,
        "AI provider failed; trying the next model: {reason}"
    );
    json!({ "provider": provider.name, "model": model.name, "error": reason })
}

fn refused(provider: &Provider, message: &str) -> ApiError {
    ApiError::BadRequest(format!("{} refused the request: {message}", provider.name).into())
}

fn exhausted(attempts: Vec<serde_json::Value>) -> ApiError {
    ApiError::ServiceUnavailable {
        message: "No AI provider could answer; try again shortly".into(),
        details: Some(json!({ "attempts": attempts })),
    }
}

/// A provider's stream after its first event: the events read so far, then the rest.
#[derive(Debug)]
pub struct Upstream {
    body: Incoming,
    parser: sse::Parser,
    wire: Wire,
    /// Read but not yet handed out.
    ready: Vec<Chunk>,
    /// Longest wait for the next bytes.
    gap: Duration,
    deadline: Instant,
}

impl Upstream {
    /// The next chunks; `Err` when the stream broke, stalled, or ran out of time.
    pub async fn next(&mut self) -> Result<Vec<Chunk>, String> {
        if !self.ready.is_empty() {
            return Ok(std::mem::take(&mut self.ready));
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Vec<Chunk>, String> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the request's deadline passed".into());
            }
            let wait = self.gap.min(left);
            let frame = match tokio::time::timeout(wait, self.body.frame()).await {
                Err(_) => return Err(OutboundError::Timeout(wait).to_string()),
                Ok(None) => return Err("the provider closed the stream early".into()),
                Ok(Some(Err(e))) => return Err(format!("the stream broke: {e}")),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let chunks: Vec<Chunk> = self
                .parser
                .push(&data)
                .iter()
                .flat_map(|event| providers::chunks(self.wire, event))
                .collect();
            if !chunks.is_empty() {
                return Ok(chunks);
            }
        }
    }
}
