//! The provider wire formats. Each module turns a [`Prompt`] into the provider's HTTP
//! request and the provider's answers (a JSON body, or stream events) into our
//! [`Completion`] and [`Chunk`]s; the gateway does the calling.

mod anthropic;
mod openai;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{Model, Provider, Wire};
use crate::sse;

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ChatRole)]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ChatMessage)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A validated request, ready for any provider.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub messages: Vec<Message>,
    /// 0–2 (OpenAI's range; Anthropic's 0–1 is reached by clamping).
    pub temperature: f64,
    pub max_tokens: u32,
}

impl Prompt {
    /// Characters over all messages, for estimates and the size limit.
    pub fn chars(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }
}

/// Token counts as the provider reported them, or as we estimated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[schema(as = TokenUsage)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// `true` when the provider reported no usage (a stream that ended early, a server
    /// that does not count): 4 characters a token.
    pub estimated: bool,
}

impl Usage {
    /// The provider's own counts. They are whatever the provider sent: a sum past
    /// `u64::MAX` saturates instead of panicking (or, in release, wrapping to a small
    /// charge).
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            estimated: false,
        }
    }

    /// An estimate from characters, 4 to a token.
    pub fn estimate(prompt_chars: usize, completion_chars: usize) -> Self {
        Self {
            estimated: true,
            ..Self::new(tokens_in(prompt_chars), tokens_in(completion_chars))
        }
    }
}

/// The estimated tokens of `chars` characters.
pub fn tokens_in(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// A whole answer as the provider sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub content: String,
    /// OpenAI's vocabulary: `stop`, `length`, `content_filter`, `tool_calls`.
    pub finish_reason: String,
    /// `None` when the provider reported none.
    pub usage: Option<Usage>,
}

/// A whole answer as we give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub content: String,
    pub finish_reason: String,
    pub usage: Usage,
}

/// What one stream event means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Text(String),
    /// Counts seen so far; a field the event does not carry is `None`.
    Usage {
        prompt: Option<u64>,
        completion: Option<u64>,
    },
    Finish(String),
    /// The provider ended the stream properly.
    End,
    /// The provider reported a failure inside the stream.
    Failed(String),
}

/// The HTTP request that asks `provider` to run `prompt` on `model`.
pub fn request(
    provider: &Provider,
    model: &Model,
    prompt: &Prompt,
    stream: bool,
) -> Result<Request<Full<Bytes>>, String> {
    let (url, body) = match provider.wire {
        Wire::OpenAi => (
            format!("{}/chat/completions", provider.base_url),
            openai::body(model, prompt, stream),
        ),
        Wire::Anthropic => (
            format!("{}/v1/messages", provider.base_url),
            anthropic::body(model, prompt, stream),
        ),
    };
    let mut builder = Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::ACCEPT,
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        );
    if let Some(key) = &provider.api_key {
        builder = match provider.wire {
            Wire::OpenAi => builder.header(http::header::AUTHORIZATION, format!("Bearer {key}")),
            Wire::Anthropic => builder.header("x-api-key", key),
        };
    }
    if provider.wire == Wire::Anthropic {
        builder = builder.header("anthropic-version", anthropic::VERSION);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("the request to {} could not be built: {e}", provider.name))
}

/// A non-streamed answer's body.
pub fn completion(wire: Wire, body: &[u8]) -> Result<Answer, String> {
    let parsed = match wire {
        Wire::OpenAi => openai::completion(body),
        Wire::Anthropic => anthropic::completion(body),
    };
    parsed.map_err(|e| format!("unreadable answer: {e}"))
}

/// What a stream event means; events we have no use for (`ping`) give nothing.
pub fn chunks(wire: Wire, event: &sse::Event) -> Vec<Chunk> {
    match wire {
        Wire::OpenAi => openai::chunks(event),
        Wire::Anthropic => anthropic::chunks(event),
    }
}

/// The message of a provider's error body. OpenAI and Anthropic both put it at
/// `error.message`; anything else is shown as the status alone.
pub fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        message: String,
    }
    serde_json::from_slice::<Body>(body)
        .ok()
        .map(|b| b.error.message)
        .filter(|m| !m.trim().is_empty())
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_give_their_message() {
        let openai = br#"{"error":{"message":"max_tokens is too large","type":"invalid_request_error","param":"max_tokens","code":null}}"#;
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: field required"}}"#;
        assert_eq!(error_message(openai).unwrap(), "max_tokens is too large");
        assert_eq!(
            error_message(anthropic).unwrap(),
            "messages: field required"
        );
        assert_eq!(error_message(b"<html>502</html>"), None);
    }
}
