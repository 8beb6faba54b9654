//! Calling providers: one model after another until one answers. A throttled (429),
//! failing (5xx), unreachable or slow provider, one that rejects our key (401/403) or
//! lacks the model (404), hands the request to the next model of the chain; a provider
//! that refuses the request itself (another 4xx) ends it with 400 and its message.
//!
//! Time: a buffered attempt gets an equal share of what is left of the deadline per
//! model still to try, so a slow first provider leaves time for its fallback. A stream
//! attempt must show its first event within the first-byte timeout; it commits to the
//! model then, and from there only the deadline and the gap between events bound it.
//!
//! What clients see of a failure is its kind (a status, a timeout); the provider's own
//! words and host names go to the logs only.

use std::time::Duration;

use aloft_core::ApiError;
use aloft_outbound::{Client, OutboundError, read_body};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::time::Instant;

use crate::{
    config::{AiSettings, Model, Provider, Timeouts, Wire},
    providers::{self, Chunk, Completion, Prompt, Usage},
    sse,
};

/// Largest non-streamed answer we read (a 16k-token answer is well under this).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Largest error body we read for its message.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The provider and model that served a request.
#[derive(Debug, Clone)]
pub struct Served<T> {
    pub provider: &'static str,
    pub model: String,
    pub answer: T,
}

/// Something that went wrong with a provider, told twice: `public` for the client (a
/// status, a timeout), `detail` for the logs (may quote the provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub public: String,
    pub detail: String,
}

impl Fault {
    fn new(public: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            public: public.into(),
            detail: detail.into(),
        }
    }

    fn outbound(error: &OutboundError) -> Self {
        let public = match error {
            OutboundError::Timeout(after) => format!("no answer within {after:?}"),
            OutboundError::Unreachable { .. } => "could not connect".into(),
            OutboundError::Body(_) => "the answer was cut".into(),
            OutboundError::TooLarge(_) => "the answer was too large".into(),
        };
        Self::new(public, error.to_string())
    }

    fn past_deadline() -> Self {
        Self::new(
            "the request's deadline passed",
            "the request's deadline passed",
        )
    }
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Worth trying the next model.
    Retryable(Fault),
    /// The provider refused the request itself (its message): the client must change it.
    Refused(String),
}

/// Calls providers for the AI routes; built once per cold start.
#[derive(Debug, Clone)]
pub struct Gateway {
    client: Client,
    timeouts: Timeouts,
}

impl Gateway {
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            client: Client::new(timeouts.connect),
            timeouts,
        }
    }

    /// A whole answer from the first model of `chain` that gives one.
    pub async fn complete(
        &self,
        settings: &AiSettings,
        chain: &[&Model],
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Served<Completion>, ApiError> {
        let attempt = |provider: Provider, model: Model, prompt: Prompt, share: Instant| async move {
            self.complete_once(&provider, &model, &prompt, share).await
        };
        first_served(settings, chain, prompt, deadline, attempt).await
    }

    /// An open stream from the first model of `chain` whose first event arrives in time.
    pub async fn open_stream(
        &self,
        settings: &AiSettings,
        chain: &[&Model],
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Served<Upstream>, ApiError> {
        let attempt = |provider: Provider, model: Model, prompt: Prompt, _share: Instant| async move {
            self.open_once(&provider, &model, &prompt, deadline).await
        };
        first_served(settings, chain, prompt, deadline, attempt).await
    }

    /// One buffered attempt, within `until` (its share of the deadline).
    async fn complete_once(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        until: Instant,
    ) -> Result<Completion, Failure> {
        // A whole answer's first byte comes when generation ends: only the share bounds it.
        let response = self.send(provider, model, prompt, false, until).await?;
        let body = read_body(response, MAX_ANSWER_BYTES, remaining(until)?)
            .await
            .map_err(|e| Failure::Retryable(Fault::outbound(&e)))?;
        let answer = providers::completion(provider.wire, &body)
            .map_err(|e| Failure::Retryable(Fault::new("unreadable answer", e)))?;
        // A server that does not count still charges the caller: estimate.
        let usage = answer
            .usage
            .unwrap_or_else(|| Usage::estimate(prompt.chars(), answer.content.chars().count()));
        Ok(Completion {
            content: answer.content,
            finish_reason: answer.finish_reason,
            usage,
        })
    }

    /// One stream attempt: open, and wait for the provider to really start answering.
    async fn open_once(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        deadline: Instant,
    ) -> Result<Upstream, Failure> {
        let first_byte = Instant::now() + self.timeouts.first_byte;
        let response = self
            .send(provider, model, prompt, true, first_byte.min(deadline))
            .await?;
        let mut upstream = Upstream {
            body: response.into_body(),
            parser: sse::Parser::default(),
            wire: provider.wire,
            ready: Vec::new(),
            finished: false,
            gap: self.timeouts.first_byte,
            deadline,
        };
        loop {
            let chunks = upstream.read().await.map_err(Failure::Retryable)?;
            if let Some(Chunk::Failed(reason)) =
                chunks.iter().find(|c| matches!(c, Chunk::Failed(_)))
            {
                let public = format!("{} reported an error", provider.name);
                return Err(Failure::Retryable(Fault::new(public, reason.clone())));
            }
            let started = chunks
                .iter()
                .any(|c| matches!(c, Chunk::Text(_) | Chunk::Finish(_) | Chunk::End));
            upstream.ready.extend(chunks);
            if started {
                return Ok(upstream);
            }
        }
    }

    /// Sends the request, waiting for its status until `until`; not 200 is a [`Failure`].
    async fn send(
        &self,
        provider: &Provider,
        model: &Model,
        prompt: &Prompt,
        stream: bool,
        until: Instant,
    ) -> Result<http::Response<Incoming>, Failure> {
        let request = providers::request(provider, model, prompt, stream)
            .map_err(|e| Failure::Retryable(Fault::new("the request could not be built", e)))?;
        let response = self
            .client
            .send(request, remaining(until)?)
            .await
            .map_err(|e| Failure::Retryable(Fault::outbound(&e)))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(response);
        }
        let wait = remaining(until)
            .unwrap_or(Duration::from_millis(1))
            .min(Duration::from_secs(2));
        let body = read_body(response, MAX_ERROR_BYTES, wait)
            .await
            .unwrap_or_default();
        Err(classify(provider, status, &body))
    }
}

/// Tries each model of `chain` with `attempt` (given its share of the deadline) until
/// one serves; 400 as soon as a provider refuses the request, 503 with what each attempt
/// met when none serves. The attempt takes owned values so its future stays `Send`.
async fn first_served<T, F, Fut>(
    settings: &AiSettings,
    chain: &[&Model],
    prompt: &Prompt,
    deadline: Instant,
    attempt: F,
) -> Result<Served<T>, ApiError>
where
    F: Fn(Provider, Model, Prompt, Instant) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempts = Vec::new();
    for (tried, model) in chain.iter().enumerate() {
        let Some(provider) = settings.provider(&model.provider) else {
            continue;
        };
        let models_left = u32::try_from(chain.len() - tried).unwrap_or(1);
        let share =
            Instant::now() + deadline.saturating_duration_since(Instant::now()) / models_left;
        let prompt = fitted(prompt, model);
        match attempt(provider.clone(), (*model).clone(), prompt, share).await {
            Ok(answer) => {
                return Ok(Served {
                    provider: provider.name,
                    model: model.name.clone(),
                    answer,
                });
            }
            Err(Failure::Refused(message)) => {
                let message = format!("{} refused the request: {message}", provider.name);
                return Err(ApiError::BadRequest(message.into()));
            }
            Err(Failure::Retryable(fault)) => {
                tracing::warn!(
                    ai.provider = provider.name,
                    ai.model = model.name,
                    error.cause = fault.detail,
                    "AI provider failed ({}); trying the next model",
                    fault.public
                );
                attempts.push(json!({ "provider": provider.name, "model": model.name, "error": fault.public }));
            }
        }
    }
    Err(ApiError::ServiceUnavailable {
        message: "No AI provider could answer; try again shortly".into(),
        details: Some(json!({ "attempts": attempts })),
        retry_after: None,
    })
}

/// The provider's failure, sorted into "try the next model" and "the request is wrong".
fn classify(provider: &Provider, status: StatusCode, body: &[u8]) -> Failure {
    let message = providers::error_message(body).map(|m| redact(provider, &m));
    let detail = format!("{status}: {}", message.as_deref().unwrap_or("(no message)"));
    match status.as_u16() {
        // Our side, not the client's request: our key (401/403), our credit (402), a
        // model the server lacks or a wrong base URL (404). Another provider may answer.
        401..=404 | 408 | 409 | 429 => Failure::Retryable(Fault::new(status.to_string(), detail)),
        400..=499 => Failure::Refused(message.unwrap_or_else(|| status.to_string())),
        _ => Failure::Retryable(Fault::new(status.to_string(), detail)),
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

fn remaining(until: Instant) -> Result<Duration, Failure> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::Retryable(Fault::past_deadline()))
    } else {
        Ok(left)
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
    /// A finish reason went by: a close after it is a normal end, even without the
    /// wire's own end marker (some OpenAI-compatible servers omit `[DONE]`).
    finished: bool,
    /// Longest wait for the next bytes.
    gap: Duration,
    deadline: Instant,
}

impl Upstream {
    /// The next chunks; a [`Fault`] when the stream broke, stalled, or ran out of time.
    pub async fn next(&mut self) -> Result<Vec<Chunk>, Fault> {
        if !self.ready.is_empty() {
            return Ok(std::mem::take(&mut self.ready));
        }
        self.read().await
    }

    /// The deadline of the whole request.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    async fn read(&mut self) -> Result<Vec<Chunk>, Fault> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Fault::past_deadline());
            }
            let wait = self.gap.min(left);
            let frame = match tokio::time::timeout(wait, self.body.frame()).await {
                Err(_) if wait < self.gap => return Err(Fault::past_deadline()),
                Err(_) => return Err(Fault::outbound(&OutboundError::Timeout(wait))),
                Ok(None) if self.finished => return Ok(vec![Chunk::End]),
                Ok(None) => {
                    return Err(Fault::new(
                        "the provider closed the stream early",
                        "closed before its end",
                    ));
                }
                Ok(Some(Err(e))) => return Err(Fault::new("the stream broke", e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let events = self
                .parser
                .push(&data)
                .map_err(|e| Fault::new("the stream was unreadable", e))?;
            let chunks: Vec<Chunk> = events
                .iter()
                .flat_map(|event| providers::chunks(self.wire, event))
                .collect();
            self.finished |= chunks.iter().any(|c| matches!(c, Chunk::Finish(_)));
            if !chunks.is_empty() {
                return Ok(chunks);
            }
        }
    }
}
