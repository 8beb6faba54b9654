//! `auth`: register, login (JSON or form), refresh and logout under
//! `/api/{v1,v2}/public/auth/`. Access tokens are 15-minute JWTs; the refresh token is
//! an opaque secret in the `aloft_refresh` cookie (httpOnly, Secure, SameSite=Strict,
//! Path=/api), stored hashed and rotated on every refresh.

mod cookie;
mod handlers;
mod requests;

use std::{sync::Arc, time::Duration};

use aloft_auth::{App, AppParts, AuthConfig, JwtKeys, Passwords};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{AwsClients, RefreshTokens, Table, UserRepo};
use axum::{Router, routing::post};
use utoipa::OpenApi;

/// Refresh tokens (and their cookie) live 7 days.
pub const REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the auth function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Auth {
    pub users: UserRepo,
    pub refresh_tokens: RefreshTokens,
    pub keys: Arc<JwtKeys>,
    pub passwords: Passwords,
    /// Emails that get the `admin` role at registration (`BOOTSTRAP_ADMIN_EMAILS`).
    pub bootstrap_admins: Arc<[String]>,
    /// Emails that get the `superadmin` role at registration
    /// (`BOOTSTRAP_SUPERADMIN_EMAILS`): the operators who grant admin roles.
    pub bootstrap_superadmins: Arc<[String]>,
}

impl AppParts for Auth {
    fn build(env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let passwords = Passwords::new().map_err(|e| ConfigError::Invalid {
            name: "argon2 parameters",
            reason: e.to_string(),
        })?;
        let emails = |name| {
            env.list(name)
                .iter()
                .map(|email| aloft_store::normalize_email(email))
                .collect()
        };
        Ok(Self {
            users: UserRepo::new(table.clone()),
            refresh_tokens: RefreshTokens::new(table.clone()),
            keys: Arc::new(JwtKeys::new(&AuthConfig::from_env(env)?)),
            passwords,
            bootstrap_admins: emails("BOOTSTRAP_ADMIN_EMAILS"),
            bootstrap_superadmins: emails("BOOTSTRAP_SUPERADMIN_EMAILS"),
        })
    }
}

/// The function's state: the guard and [`Auth`].
pub type AppState = App<Auth>;

/// The function's app: routes under every API version, wrapped by the shared edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/public/auth/register", post(handlers::register))
        .route("/public/auth/login", post(handlers::login))
        .route("/public/auth/refresh", post(handlers::refresh))
        .route("/public/auth/logout", post(handlers::logout));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(AuthApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::register, handlers::login, handlers::refresh, handlers::logout),
    tags((name = "Auth", description = "Sign-up, sign-in and the refresh cookie"))
)]
struct AuthApi;
