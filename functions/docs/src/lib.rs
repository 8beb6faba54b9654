//! `docs`: the OpenAPI 3.1 document of the whole API, merged from every function's
//! `openapi()`, served as `/openapi.json` with Swagger UI at `/docs` and ReDoc at
//! `/redoc`. On by default in the local stack, off unless `DOCS_ENABLED=true` anywhere
//! else. `export-openapi` writes the same document to a file.

mod pages;

use std::sync::Arc;

use aloft_auth::{Guard, guarded};
use aloft_config::{ConfigError, Env, Stage};
use aloft_http::HttpConfig;
use aloft_store::{AwsClients, AwsSettings, Table};
use axum::{Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Whether the docs are served at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocsConfig {
    pub enabled: bool,
}

impl DocsConfig {
    /// `DOCS_ENABLED`, defaulting to on only in the local stack.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = Stage::from_env(env) == Stage::Local;
        Ok(Self {
            enabled: env.parse_or("DOCS_ENABLED", default)?,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aloft API",
        description = "Serverless SaaS backend. Every route exists under /api/v1 (bare bodies) and /api/v2 (bodies wrapped in data + meta). Errors are always {\"error\": {\"code\", \"message\", \"details\"}}."
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiInfo;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "BearerJWT",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The whole API: every function's document merged under one `info`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = ApiInfo::openapi();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // Each HTTP function adds its `openapi` here.
    let functions: [fn() -> utoipa::openapi::OpenApi; 8] = [
        health::openapi,
        auth::openapi,
        users::openapi,
        projects::openapi,
        files::openapi,
        webhooks::openapi,
        contact::openapi,
        admin::openapi,
    ];
    for document in functions {
        api.merge(document());
    }
    api
}

/// What the docs function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: DocsConfig,
    /// Rate limits apply to the docs as to every route.
    pub guard: Guard,
}

impl AppState {
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
        let table = Table::new(aws.dynamodb, env.required("TABLE_NAME")?);
        Ok(Self {
            config: DocsConfig::from_env(env)?,
            guard: Guard::from_env(env, table)?,
        })
    }
}

/// The docs routes when enabled; with docs off every path is our 404.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let config = state.config;
    let mut routes = Router::new();
    if config.enabled {
        // Serialized once per cold start; every request shares the bytes.
        let spec: Arc<[u8]> = serde_json::to_vec(&openapi()).unwrap_or_default().into();
        routes = routes
            .route(
                "/openapi.json",
                get(move || pages::openapi_json(spec.clone())),
            )
            .route("/docs", get(pages::swagger_ui))
            .route("/redoc", get(pages::redoc));
    }
    guarded(routes, state.guard, http)
}
