//! `ai`: the AI gateway under `/api/{v1,v2}/app/ai` — `status`, `completions`, `chat`
//! and `chat/routed` — over any OpenAI-compatible Chat Completions endpoint and
//! Anthropic Messages, with fallbacks across providers, SSE streaming, a monthly token
//! quota per plan, and usage metered from the providers' own counts.
//!
//! Two binaries serve the same router: `ai` behind the HTTP API (which buffers, so a
//! stream arrives whole), and `ai-stream` on a Lambda function URL in
//! `RESPONSE_STREAM` mode, where events reach the client as the provider produces them.

mod config;
mod gateway;
mod handlers;
mod metering;
mod model;
mod providers;
mod sse;
mod stream;

use std::sync::Arc;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{AwsClients, OrganizationRepo, Table, TenantCredentials, UsageMeter};
use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

pub use config::AiSettings;
pub use gateway::Gateway;

/// What the AI function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Ai {
    pub settings: Arc<AiSettings>,
    pub gateway: Gateway,
    pub usage: UsageMeter,
    /// Organizations, for whether one requires its own provider keys.
    pub organizations: OrganizationRepo,
    /// Organizations' own provider keys (`TENANT_CREDENTIALS_KEY_ID`; unset: none).
    pub credentials: Option<TenantCredentials>,
    /// Set by `ai-stream`: its own URL is the stream URL.
    pub serves_streams: bool,
}

impl AppParts for Ai {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let settings = AiSettings::from_env(env)?;
        let gateway = Gateway::new(settings.timeouts);
        Ok(Self {
            settings: Arc::new(settings),
            gateway,
            usage: UsageMeter::new(table.clone()),
            organizations: OrganizationRepo::new(table.clone()),
            credentials: TenantCredentials::from_env(env, aws, table),
            serves_streams: false,
        })
    }
}

/// The function's state: the guard and [`Ai`].
pub type AppState = App<Ai>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/ai/status", get(handlers::ai_status))
        .route("/app/ai/completions", post(handlers::create_completion))
        .route("/app/ai/chat", post(handlers::chat))
        .route("/app/ai/chat/routed", post(handlers::routed_chat));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(AiApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::ai_status,
        handlers::create_completion,
        handlers::chat,
        handlers::routed_chat
    ),
    tags((name = "AI", description = "Chat completions over OpenAI-compatible and Anthropic providers, buffered or streamed"))
)]
struct AiApi;
