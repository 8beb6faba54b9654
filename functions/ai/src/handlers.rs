//! The four AI routes. Each turns its body into a [`Prompt`] and a chain of models,
//! then [`answer`] holds the quota, calls the providers and answers as JSON or SSE.

use aloft_auth::{AuthUser, Principal};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::HeaderMap;
use serde_json::json;
use tokio::time::Instant;

use crate::{
    AppState,
    config::Model,
    metering,
    model::{
        ANSWERS, AiStatus, ChatRequest, CompletionRequest, CompletionResponse, RoutedChatRequest,
        StreamEvent, conversation, prompt, requested_model,
    },
    providers::Prompt,
    stream::{Charge, sse_response},
};

/// Which AI providers are configured.
#[utoipa::path(
    get,
    path = "/app/ai/status",
    tag = "AI",
    responses(
        SignedIn,
        (status = 200, description = "Providers and defaults", body = AiStatus),
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
    responses(
        SignedIn, JsonBody,
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 400, description = "The body is not JSON or is malformed, or the provider refused the request (its message)", body = ErrorBody),
        (status = 422, description = "A field breaks its rule; `details.field` names it", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit (`RATE_LIMIT_EXCEEDED`) or the plan's monthly tokens (`QUOTA_EXCEEDED`)", body = ErrorBody),
        (status = 424, description = "Acting in an organization that requires its own provider keys, without one for any provider that could answer (`MISSING_TENANT_CREDENTIALS`, `details.providers`)", body = ErrorBody),
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
    responses(
        SignedIn, JsonBody,
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 400, description = "The body is not JSON or is malformed, or the provider refused the request (its message)", body = ErrorBody),
        (status = 422, description = "A field breaks its rule; `details.field` names it", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit or the plan's monthly tokens", body = ErrorBody),
        (status = 424, description = "Acting in an organization that requires its own provider keys, without one for any provider that could answer (`MISSING_TENANT_CREDENTIALS`, `details.providers`)", body = ErrorBody),
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
    responses(
        SignedIn, JsonBody,
        (status = 200, description = ANSWERS, content((CompletionResponse = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 400, description = "The body is not JSON or is malformed, or the provider refused the request (its message)", body = ErrorBody),
        (status = 422, description = "A field breaks its rule (an unknown `complexity`, say)", body = ErrorBody),
        (status = 429, description = "Over the AI rate limit or the plan's monthly tokens", body = ErrorBody),
        (status = 424, description = "Acting in an organization that requires its own provider keys, without one for any provider that could answer (`MISSING_TENANT_CREDENTIALS`, `details.providers`)", body = ErrorBody),
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

/// In an organization that stored its own provider keys or requires them: those keys,
/// and whether it requires them (an organization GetItem, a Query of its keys and one
/// KMS Decrypt per key). `None`: the deployment's keys serve.
async fn own_keys(
    state: &AppState,
    principal: &Principal,
) -> Result<Option<(Vec<(String, String)>, bool)>, ApiError> {
    if principal.membership.is_none() {
        return Ok(None);
    }
    let tenant = &principal.tenant_id;
    let organization = state.organizations.get(tenant).await?;
    let required = organization.is_some_and(|o| o.require_own_credentials);
    let keys = match &state.credentials {
        Some(credentials) => credentials.decrypted(tenant).await?,
        None => Vec::new(),
    };
    Ok((required || !keys.is_empty()).then_some((keys, required)))
}

/// Quota, providers, and the answer in the form asked for. `chain` holds the callable
/// models of a request whose first choice is `model`. Past the quota's hold, every way
/// out settles it: a failure releases it, an answer charges it, a stream's relay
/// charges it when the stream ends.
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
            retry_after: None,
        });
    }
    let own_settings;
    let (settings, chain) = match own_keys(state, principal).await? {
        None => (settings.as_ref(), chain),
        Some((keys, required)) => {
            own_settings = settings.with_tenant_keys(&keys, required);
            let own: Vec<&Model> = chain
                .iter()
                .copied()
                .filter(|m| own_settings.provider(&m.provider).is_some())
                .collect();
            if own.is_empty() {
                let mut providers: Vec<String> = chain.iter().map(|m| m.provider.clone()).collect();
                providers.dedup();
                return Err(ApiError::MissingTenantCredentials { providers });
            }
            (&own_settings, own)
        }
    };
    let hold = metering::reserve(&state.usage, settings, principal, &prompt).await?;
    let started = Instant::now();
    let deadline = started + settings.timeouts.deadline;
    if stream {
        let opened = state
            .gateway
            .open_stream(settings, &chain, &prompt, deadline)
            .await;
        let served = metering::released_on_error(&state.usage, &hold, opened).await?;
        let charge = Charge {
            usage: state.usage.clone(),
            hold,
            prompt_chars: prompt.chars(),
            started,
        };
        return Ok(sse_response(served, charge));
    }
    let completed = state
        .gateway
        .complete(settings, &chain, &prompt, deadline)
        .await;
    let served = metering::released_on_error(&state.usage, &hold, completed).await?;
    let completion = served.answer;
    metering::settle(&state.usage, &hold, &served.model, &completion.usage).await;
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

/// Milliseconds since `started`, to a tenth.
pub(crate) fn millis_since(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}
