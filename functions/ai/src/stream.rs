//! The streamed answer: a task reads the provider's stream and writes our SSE events
//! into a channel the response body drains. The task, not the body, owns the upstream,
//! so usage is charged (and the call's quota hold settled) even when the client goes
//! away mid-stream: the provider is stopped (its connection dropped) and what it
//! produced so far is estimated.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use aloft_core::ApiError;
use aloft_store::UsageMeter;
use axum::{body::Body, response::Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use http_body::Frame;
use serde_json::json;
use tokio::{sync::mpsc, time::Instant};

use crate::{
    gateway::{Fault, Served, Upstream},
    metering,
    providers::{Chunk, Usage, tokens_in},
    sse,
};

/// Events buffered between the provider and a slow client.
const BUFFERED_EVENTS: usize = 32;
/// How long the closing events (usage, then done or error) may wait for the client,
/// even past the deadline: a stream that ran out of time still says so.
const TAIL_GRACE: Duration = Duration::from_secs(2);

/// What the stream is charged to.
#[derive(Debug, Clone)]
pub struct Charge {
    pub usage: UsageMeter,
    /// The call's hold on its owner's quota, settled when the stream ends.
    pub hold: metering::Hold,
    pub prompt_chars: usize,
    pub started: Instant,
}

/// A `text/event-stream` response fed by `served`'s stream.
pub fn sse_response(served: Served<Upstream>, charge: Charge) -> Response {
    let (sender, receiver) = mpsc::channel(BUFFERED_EVENTS);
    let mut response = Response::new(Body::new(ChannelBody(receiver)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer (nginx) pass events on at once with this.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert("x-ai-provider", HeaderValue::from_static(served.provider));
    if let Ok(model) = HeaderValue::from_str(&served.model) {
        headers.insert("x-ai-model", model);
    }
    tokio::spawn(relay(served, charge, sender));
    response
}

/// How the provider's stream ended.
#[derive(Debug, Default)]
struct Tally {
    text_chars: usize,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    finish_reason: Option<String>,
    ended: bool,
    failure: Option<Fault>,
    /// The client left, or stopped reading until the deadline.
    client_gone: bool,
}

async fn relay(served: Served<Upstream>, charge: Charge, sender: mpsc::Sender<Bytes>) {
    let Served {
        provider,
        model,
        answer: mut upstream,
    } = served;
    let tally = forward(&mut upstream, &sender).await;
    // Dropping the connection stops the provider generating (and charging) more.
    drop(upstream);
    let usage = usage_of(&tally, charge.prompt_chars);
    metering::settle(&charge.usage, &charge.hold, &model, &usage).await;
    if tally.client_gone {
        tracing::info!(ai.model = model, "client left mid-stream; usage estimated");
        return;
    }
    let summary = json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "estimated": usage.estimated,
        "model": model,
        "provider": provider,
        "finish_reason": tally.finish_reason,
        "latency_ms": crate::handlers::millis_since(charge.started),
    });
    let mut tail = sse::named_event("usage", &summary);
    match &tally.failure {
        None => tail.push_str(sse::DONE),
        Some(fault) => {
            tracing::warn!(
                ai.provider = provider,
                ai.model = model,
                error.cause = fault.detail,
                "AI stream failed mid-way ({})",
                fault.public
            );
            let message = format!("{provider} stopped mid-stream: {}", fault.public);
            let error = ApiError::ExternalService(message.into());
            tail.push_str(&sse::named_event("error", &error.body()));
        }
    }
    // The client may have gone in the meantime; nothing is left to tell it then.
    let _ = tokio::time::timeout(TAIL_GRACE, sender.send(Bytes::from(tail))).await;
}

async fn forward(upstream: &mut Upstream, sender: &mpsc::Sender<Bytes>) -> Tally {
    let mut tally = Tally::default();
    let deadline = upstream.deadline();
    loop {
        let chunks = match upstream.next().await {
            Ok(chunks) => chunks,
            Err(fault) => {
                tally.failure = Some(fault);
                return tally;
            }
        };
        for chunk in chunks {
            match chunk {
                Chunk::Text(text) => {
                    tally.text_chars += text.chars().count();
                    let event = Bytes::from(sse::text_event(&text));
                    // A client that stops reading must not hold the relay past the deadline.
                    let sent = tokio::time::timeout_at(deadline, sender.send(event)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tally.client_gone = true;
                        return tally;
                    }
                }
                Chunk::Usage { prompt, completion } => {
                    tally.prompt_tokens = prompt.or(tally.prompt_tokens);
                    tally.completion_tokens = completion.or(tally.completion_tokens);
                }
                Chunk::Finish(reason) => tally.finish_reason = Some(reason),
                Chunk::End => {
                    tally.ended = true;
                    return tally;
                }
                Chunk::Failed(reason) => {
                    tally.failure = Some(Fault {
                        public: "the provider reported an error".into(),
                        detail: reason,
                    });
                    return tally;
                }
            }
        }
    }
}

/// The provider's own counts when the stream ended properly and reported them; else an
/// estimate: the prompt count the provider gave at the start if any (else from the
/// prompt's characters), and the text received, never below what the provider reported.
fn usage_of(tally: &Tally, prompt_chars: usize) -> Usage {
    match (tally.ended, tally.prompt_tokens, tally.completion_tokens) {
        (true, Some(prompt), Some(completion)) => Usage::new(prompt, completion),
        _ => {
            let prompt = tally
                .prompt_tokens
                .unwrap_or_else(|| tokens_in(prompt_chars));
            let completion = tally
                .completion_tokens
                .unwrap_or(0)
                .max(tokens_in(tally.text_chars));
            Usage {
                estimated: true,
                ..Usage::new(prompt, completion)
            }
        }
    }
}

/// A response body that yields what the relay sends, and ends when it stops.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_usage_is_used_only_when_the_stream_ended_properly() {
        let reported = Tally {
            ended: true,
            prompt_tokens: Some(10),
            completion_tokens: Some(20),
            ..Tally::default()
        };
        assert_eq!(usage_of(&reported, 400), Usage::new(10, 20));
        let cut = Tally {
            text_chars: 200,
            prompt_tokens: Some(10),
            completion_tokens: Some(1),
            ..Tally::default()
        };
        let estimated = |prompt, completion| Usage {
            estimated: true,
            ..Usage::new(prompt, completion)
        };
        assert_eq!(usage_of(&cut, 400), estimated(10, 50));
        let before_any_count = Tally {
            text_chars: 7,
            ..Tally::default()
        };
        assert_eq!(usage_of(&before_any_count, 400), estimated(100, 2));
    }
}
