//! `users`: the signed-in user's own profile, `GET` and `PATCH /api/{v1,v2}/app/users/me`.
//! v2 adds `is_premium` and `days_since_joined`. An inactive account gets 403. Also the
//! caller's API keys (`GET/POST /app/api-keys`, `DELETE /app/api-keys/{id}`), a new
//! verification link, their password, and their sessions.

mod account;
mod api_keys;
mod me;

use aloft_auth::{App, AppParts, Passwords};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, QueueName, QueueUrls};
use aloft_store::{ApiKeyRepo, AwsClients, JobRepo, RefreshTokens, Table, UserRepo};
use axum::{
    Router,
    routing::{delete, get, post},
};
use utoipa::OpenApi;

/// What the users function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Users {
    pub users: UserRepo,
    pub api_keys: ApiKeyRepo,
    pub refresh_tokens: RefreshTokens,
    pub passwords: Passwords,
    /// Queues verification mails.
    pub producer: Producer,
}

impl AppParts for Users {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let passwords = Passwords::new().map_err(|e| ConfigError::Invalid {
            name: "argon2 parameters",
            reason: e.to_string(),
        })?;
        Ok(Self {
            users: UserRepo::new(table.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
            refresh_tokens: RefreshTokens::new(table.clone()),
            passwords,
            producer: Producer::new(
                aws,
                JobRepo::new(table.clone()),
                QueueUrls::from_env(env, &[QueueName::Jobs])?,
            ),
        })
    }
}

/// The function's state: the guard and [`Users`].
pub type AppState = App<Users>;

/// The function's app: routes under every API version, wrapped by the shared edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/users/me", get(me::get_me).patch(me::update_me))
        .route(
            "/app/api-keys",
            get(api_keys::list_api_keys).post(api_keys::create_api_key),
        )
        .route("/app/api-keys/{id}", delete(api_keys::delete_api_key))
        .route(
            "/app/users/me/verify-email",
            post(account::resend_verification),
        )
        .route("/app/users/me/password", post(account::change_password))
        .route(
            "/app/users/me/sessions",
            get(account::list_sessions).delete(account::revoke_other_sessions),
        )
        .route(
            "/app/users/me/sessions/{id}",
            delete(account::revoke_session),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(UsersApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        me::get_me,
        me::update_me,
        api_keys::list_api_keys,
        api_keys::create_api_key,
        api_keys::delete_api_key,
        account::resend_verification,
        account::change_password,
        account::list_sessions,
        account::revoke_session,
        account::revoke_other_sessions
    ),
    tags(
        (name = "Users", description = "The signed-in user's profile"),
        (name = "API keys", description = "Keys for service accounts, sent as X-API-Key")
    )
)]
struct UsersApi;
