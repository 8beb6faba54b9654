//! The four AI routes. Each turns its body into a [`Prompt`] and a chain of models,
//! then [`answer`] checks the quota, calls the providers and answers as JSON or SSE.

use aloft_auth::{AuthUser, Principal};
use aloft_http::{ApiError, Json, Reply, openapi::ErrorBody};
use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::{
    AppState,
    config::{AiSettings, Model},
    metering,
    providers::{Message, Prompt, Role, Usage},
    stream::{Charge, sse_response},
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
    pub messages: Vec<Message>,
    /// A model of the catalogue (`AI_MODELS`); default `AI_DEFAULT_MODEL` (gpt-4o).
    pub model: Option<String>,
    /// 0–2, default 0.7.
    pub temperature: Option<f64>,
    /// 1 up to the model's limit, default 1000.
    pub max_tokens: Option<u32>,
    /// `true`: `text/event-stream` (see the README for the event format).
    #[serde(default)]
    pub stream: bool,
}

/// `POST /app/ai/chat`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    pub prompt: String,
    /// A system instruction.
    pub system: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
}

/// `POST /app/ai/chat/routed`: the model is chosen by `complexity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoutedChatRequest {
    pub prompt: String,
    pub system: Option<String>,
    /// `simple`, `moderate` (default), `complex` or `search` (`AI_ROUTES`).
    pub complexity: Option<String>,
    pub temperature: Option<f64>,
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

const ANSWERS: &str = "The answer: JSON, or `text/event-stream` when `stream` is true: one event per text delta (a delta's lines are its `data:` lines), then `event: usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`, `estimated`, `model`, `provider`, `finish_reason`), then `data: [DONE]`; a provider failure mid-stream ends with `event: error` and the error envelope";

/// Which AI providers are configured.
#[utoipa::path(
    get,
    path = "/app/ai/status",
    tag = "AI",
    security(("BearerJWT" = []), ("ApiKey" = [])),
    responses(
        (status = 200, description = "Providers and defaults", body = AiStatus),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit", body = ErrorBody),
    )
)]
pub(crate) async fn ai_status(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    headers: HeaderMap,
) -> Reply<AiStatus> {
    let settings = &state.settings;
    let default = settings.model_chain(&settings.default_model);
    let default = default.first();
    // The streaming function, asked directly, is its own stream URL.
    let own_url = || {
        let host = headers.get(http::header::HOST)?.to_str().ok()?;
        state.serves_streams.then(|| format!("https://{host}"))
    };
    Reply::ok(AiStatus {
        available: !settings.providers.is_empty(),
        providers: settings.providers.iter().map(|p| p.name).collect(),
        default_provider: default
            .and_then(|m| settings.provider(&m.provider))
            .map(|p| p.name),
        default_model: default.map(|m| m.name.clone()),
        stream_url: settings.stream_url.clone().or_else(own_url),
    })
}

/// A chat completion over a whole conversation.
#[utoipa::path(
    post,
    path = "/app/ai/completions",
    tag = "AI",
    request_body = CompletionRequest,
    security(("BearerJWT" = []), ("ApiKey" = [])),
    responses(
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, or the provider refused the request (its message)", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "A field breaks its rule; `details.field` names it", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit (`RATE_LIMIT_EXCEEDED`) or the plan's monthly tokens (`QUOTA_EXCEEDED`)", body = ErrorBody),
        (status = 503, description = "No provider configured (`details.configure`), or none could answer (`details.attempts`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_completion(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<CompletionRequest>,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let model = requested_model(settings, body.model)?;
    let prompt = prompt(
        settings,
        body.messages,
        "messages",
        body.temperature,
        body.max_tokens,
        &model,
    )?;
    let chain = settings.model_chain(&model);
    answer(&state, &principal, &model, chain, prompt, body.stream, None).await
}

/// One prompt (and an optional system instruction) to a model.
#[utoipa::path(
    post,
    path = "/app/ai/chat",
    tag = "AI",
    request_body = ChatRequest,
    security(("BearerJWT" = []), ("ApiKey" = [])),
    responses(
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, or the provider refused the request (its message)", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "A field breaks its rule; `details.field` names it", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit or the plan's monthly tokens", body = ErrorBody),
        (status = 503, description = "No provider configured, or none could answer", body = ErrorBody),
    )
)]
pub(crate) async fn chat(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<ChatRequest>,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let model = requested_model(settings, body.model)?;
    let messages = conversation(body.system, body.prompt);
    let prompt = prompt(
        settings,
        messages,
        "prompt",
        body.temperature,
        body.max_tokens,
        &model,
    )?;
    let chain = settings.model_chain(&model);
    answer(&state, &principal, &model, chain, prompt, body.stream, None).await
}

/// A prompt sent to the model configured for its `complexity`, with that route's
/// fallbacks.
#[utoipa::path(
    post,
    path = "/app/ai/chat/routed",
    tag = "AI",
    request_body = RoutedChatRequest,
    security(("BearerJWT" = []), ("ApiKey" = [])),
    responses(
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, or the provider refused the request (its message)", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "A field breaks its rule (an unknown `complexity`, say)", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit or the plan's monthly tokens", body = ErrorBody),
        (status = 503, description = "No provider configured, or none could answer", body = ErrorBody),
    )
)]
pub(crate) async fn routed_chat(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<RoutedChatRequest>,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let complexity = body.complexity.unwrap_or_else(|| "moderate".into());
    let Some(route) = settings.routes.get(&complexity).filter(|r| !r.is_empty()) else {
        let known: Vec<&str> = settings.routes.keys().map(String::as_str).collect();
        return Err(ApiError::validation(
            "complexity",
            format!("complexity must be one of: {}", known.join(", ")),
        ));
    };
    let messages = conversation(body.system, body.prompt);
    let prompt = prompt(
        settings,
        messages,
        "prompt",
        body.temperature,
        body.max_tokens,
        &route[0],
    )?;
    let chain = settings.callable(route.iter().map(String::as_str));
    answer(
        &state,
        &principal,
        &route[0],
        chain,
        prompt,
        body.stream,
        Some(complexity),
    )
    .await
}

/// Quota, providers, and the answer in the form asked for. `chain` holds the callable
/// models of a request whose first choice is `model`.
async fn answer(
    state: &AppState,
    principal: &Principal,
    model: &str,
    chain: Vec<&Model>,
    prompt: Prompt,
    stream: bool,
    complexity: Option<String>,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    if chain.is_empty() {
        let configure = settings.variables_for(model);
        return Err(ApiError::ServiceUnavailable {
            message: format!(
                "AI is not configured for {model}: set {}",
                configure.join(" or ")
            )
            .into(),
            details: Some(json!({ "configure": configure })),
        });
    }
    metering::check_quota(&state.usage, settings, principal).await?;
    let started = Instant::now();
    let deadline = started + settings.timeouts.deadline;
    if stream {
        let served = state
            .gateway
            .open_stream(settings, &chain, &prompt, deadline)
            .await?;
        let charge = Charge {
            usage: state.usage.clone(),
            user_id: principal.user_id.clone(),
            prompt_chars: prompt.chars(),
            started,
        };
        return Ok(sse_response(served, charge));
    }
    let served = state
        .gateway
        .complete(settings, &chain, &prompt, deadline)
        .await?;
    let completion = served.answer;
    metering::record(
        &state.usage,
        &principal.user_id,
        &served.model,
        &completion.usage,
    )
    .await;
    Ok(Reply::ok(CompletionResponse {
        content: completion.content,
        model: served.model,
        provider: served.provider,
        usage: completion.usage,
        finish_reason: completion.finish_reason,
        latency_ms: millis_since(started),
        complexity,
    })
    .into_response())
}

/// The model asked for, or the default; 422 for one not in the catalogue.
fn requested_model(settings: &AiSettings, model: Option<String>) -> Result<String, ApiError> {
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

fn conversation(system: Option<String>, prompt: String) -> Vec<Message> {
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
fn prompt(
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
    let prompt = Prompt {
        messages,
        temperature: temperature.unwrap_or(settings.default_temperature),
        max_tokens: max_tokens.unwrap_or(settings.default_max_tokens),
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
    let limit = settings
        .models
        .get(model)
        .map_or(u32::MAX, |m| m.max_output_tokens);
    if !(1..=limit).contains(&prompt.max_tokens) {
        return Err(ApiError::validation(
            "max_tokens",
            format!("max_tokens must be between 1 and {limit} for {model}"),
        ));
    }
    Ok(prompt)
}

/// Milliseconds since `started`, to a tenth.
pub(crate) fn millis_since(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}
