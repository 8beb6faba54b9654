//! Request and response bodies of the AI routes, and their field rules.

use aloft_core::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    config::AiSettings,
    providers::{Message, Prompt, Role, Usage},
};

/// `GET /app/ai/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiStatus {
    /// Whether any provider is configured.
    pub available: bool,
    /// The configured providers: `openai`, `anthropic`, `perplexity`.
    pub providers: Vec<&'static str>,
    pub default_provider: Option<&'static str>,
    /// The model a request without `model` gets.
    pub default_model: Option<String>,
    /// Base URL of the streaming function: the same paths, streamed as they are produced
    /// (`<stream_url>/api/v1/app/ai/chat`).
    pub stream_url: Option<String>,
}

/// `POST /app/ai/completions`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletionRequest {
    /// The conversation; at least one `user` or `assistant` message.
    #[schema(min_items = 1)]
    pub messages: Vec<Message>,
    /// A model of the catalogue (`AI_MODELS`); default `AI_DEFAULT_MODEL` (gpt-4o).
    pub model: Option<String>,
    /// 0–2, default 0.7.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// 1 up to the model's limit, default 1000.
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    /// `true`: `text/event-stream` (see the README for the event format).
    #[serde(default)]
    pub stream: bool,
}

/// `POST /app/ai/chat`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// Not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub prompt: String,
    /// A system instruction.
    pub system: Option<String>,
    pub model: Option<String>,
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
}

/// `POST /app/ai/chat/routed`: the model is chosen by `complexity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoutedChatRequest {
    /// Not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub prompt: String,
    pub system: Option<String>,
    /// `simple`, `moderate` (default), `complex` or `search` (`AI_ROUTES`).
    pub complexity: Option<String>,
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
}

/// A whole answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionResponse {
    pub content: String,
    /// The model that answered (a fallback's, if the first choice failed).
    pub model: String,
    pub provider: &'static str,
    pub usage: Usage,
    /// `stop`, `length`, `content_filter` or `tool_calls`.
    pub finish_reason: String,
    pub latency_ms: f64,
    /// The complexity a routed chat was sent by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complexity: Option<String>,
}

/// One event of a streamed answer (`text/event-stream`), as an SSE parser yields it: the
/// document describes each event, not the stream as one string.
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the events `sse` writes as text; never built as a value"
)]
pub struct StreamEvent {
    /// `message` (the default: a text delta, or the closing `[DONE]`), `usage` or `error`.
    #[schema(pattern = "^(message|usage|error)$")]
    pub event: Option<String>,
    /// The text delta (its lines joined by `\n`), the usage JSON, the error envelope JSON,
    /// or `[DONE]`.
    pub data: String,
}

pub(crate) const ANSWERS: &str = "The answer: JSON, or `text/event-stream` when `stream` is true: one event per text delta (a delta's lines are its `data:` lines), then `event: usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`, `estimated`, `model`, `provider`, `finish_reason`), then `data: [DONE]`; a provider failure mid-stream ends with `event: error` and the error envelope";

/// The model asked for, or the default; 422 for one not in the catalogue.
pub(crate) fn requested_model(
    settings: &AiSettings,
    model: Option<String>,
) -> Result<String, ApiError> {
    let model = model.unwrap_or_else(|| settings.default_model.clone());
    if settings.models.contains_key(&model) {
        return Ok(model);
    }
    let known: Vec<&str> = settings.models.keys().map(String::as_str).collect();
    Err(ApiError::validation(
        "model",
        format!("model must be one of: {}", known.join(", ")),
    ))
}

pub(crate) fn conversation(system: Option<String>, prompt: String) -> Vec<Message> {
    let system = system
        .filter(|s| !s.trim().is_empty())
        .map(|content| Message {
            role: Role::System,
            content,
        });
    system
        .into_iter()
        .chain([Message {
            role: Role::User,
            content: prompt,
        }])
        .collect()
}

/// The field rules; `field` names the text the client wrote (`messages` or `prompt`).
pub(crate) fn prompt(
    settings: &AiSettings,
    messages: Vec<Message>,
    field: &'static str,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    model: &str,
) -> Result<Prompt, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::validation(field, "messages must not be empty"));
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(ApiError::validation(
            field,
            "messages need a user or assistant message",
        ));
    }
    if field == "prompt" && messages.iter().all(|m| m.content.trim().is_empty()) {
        return Err(ApiError::validation(field, "prompt must not be empty"));
    }
    let limit = settings
        .models
        .get(model)
        .map_or(u32::MAX, |m| m.max_output_tokens);
    let prompt = Prompt {
        messages,
        temperature: temperature.unwrap_or(settings.default_temperature),
        // The default never exceeds what the model accepts; an explicit value must fit.
        max_tokens: max_tokens.unwrap_or(settings.default_max_tokens.min(limit)),
    };
    if prompt.chars() > settings.max_prompt_chars {
        let max = settings.max_prompt_chars;
        return Err(ApiError::validation(
            field,
            format!("the prompt is longer than {max} characters"),
        ));
    }
    if !(0.0..=2.0).contains(&prompt.temperature) {
        return Err(ApiError::validation(
            "temperature",
            "temperature must be between 0 and 2",
        ));
    }
    if !(1..=limit).contains(&prompt.max_tokens) {
        return Err(ApiError::validation(
            "max_tokens",
            format!("max_tokens must be between 1 and {limit} for {model}"),
        ));
    }
    Ok(prompt)
}
