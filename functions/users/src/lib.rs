//! `users`: the signed-in user's own profile, `GET` and `PATCH /api/{v1,v2}/app/users/me`.
//! v2 adds `is_premium` and `days_since_joined`. An inactive account gets 403.

mod me;

use std::sync::Arc;

use aloft_auth::{AuthConfig, JwtKeys};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document, versioned};
use aloft_store::{AwsClients, AwsSettings, Table, UserRepo};
use axum::{Router, extract::FromRef, routing::get};
use utoipa::OpenApi;

/// What the users function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct AppState {
    pub users: UserRepo,
    pub keys: Arc<JwtKeys>,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
        let table = Table::new(aws.dynamodb, env.required("TABLE_NAME")?);
        Ok(Self {
            users: UserRepo::new(table),
            keys: Arc::new(JwtKeys::new(&AuthConfig::from_env(env)?)),
        })
    }
}

/// The function's app: routes under every API version, wrapped by the shared edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new().route("/app/users/me", get(me::get_me).patch(me::update_me));
    aloft_http::edge(versioned(routes).with_state(state), http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(UsersApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(me::get_me, me::update_me),
    tags((name = "Users", description = "The signed-in user's profile"))
)]
struct UsersApi;
