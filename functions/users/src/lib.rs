//! `users`: the signed-in user's own profile, `GET` and `PATCH /api/{v1,v2}/app/users/me`.
//! v2 adds `is_premium` and `days_since_joined`. An inactive account gets 403. Also the
//! caller's API keys: `GET/POST /app/api-keys`, `DELETE /app/api-keys/{id}`. (Their
//! password, sessions and verification mail are the `auth` function's.)

mod api_keys;
mod me;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{ApiKeyRepo, AwsClients, Table, UserRepo};
use axum::{
    Router,
    routing::{delete, get},
};
use utoipa::OpenApi;

/// What the users function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Users {
    pub users: UserRepo,
    pub api_keys: ApiKeyRepo,
}

impl AppParts for Users {
    fn build(_env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        Ok(Self {
            users: UserRepo::new(table.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
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
        .route("/app/api-keys/{id}", delete(api_keys::delete_api_key));
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
        api_keys::delete_api_key
    ),
    tags(
        (name = "Users", description = "The signed-in user's profile"),
        (name = "API keys", description = "Keys for service accounts, sent as X-API-Key")
    )
)]
struct UsersApi;
