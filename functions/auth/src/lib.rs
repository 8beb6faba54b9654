//! `auth`: register, login (JSON or form), refresh and logout, email verification and
//! the forgotten-password reset under `/api/{v1,v2}/public/auth/`; the signed-in user's
//! password, sessions and verification mail under `/app/users/me/`. Access tokens are
//! 15-minute JWTs naming their session; the refresh token is an opaque secret in the
//! `aloft_refresh` cookie (httpOnly, Secure, SameSite=Strict, Path=/api), stored hashed
//! and rotated on every refresh. Verification and reset links are mailed by
//! `jobs-worker`.

mod account;
mod cookie;
mod handlers;
mod requests;
mod sessions;

use std::{sync::Arc, time::Duration};

use aloft_auth::{App, AppParts, AuthConfig, JwtKeys, Passwords};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, QueueName, QueueUrls};
use aloft_store::{
    AwsClients, JobRepo, OneTimeTokens, OrganizationRepo, RefreshTokens, Table, UserRepo,
};
use axum::{
    Router,
    routing::{delete, get, post},
};
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
    /// Verification and reset tokens (minted by `jobs-worker`, used here).
    pub one_time: OneTimeTokens,
    /// Queues the mail jobs.
    pub producer: Producer,
    /// The memberships a refreshed session's organization is checked against.
    pub organizations: OrganizationRepo,
    /// Emails that get the `admin` role once verified (`BOOTSTRAP_ADMIN_EMAILS`).
    pub bootstrap_admins: Arc<[String]>,
    /// Emails that get the `superadmin` role once verified
    /// (`BOOTSTRAP_SUPERADMIN_EMAILS`): the operators who grant admin roles.
    pub bootstrap_superadmins: Arc<[String]>,
    /// Origins of other sites whose pages may post the login form
    /// (`CORS_ALLOW_ORIGINS`, the browser origins the API serves).
    pub form_origins: Arc<[String]>,
}

impl AppParts for Auth {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
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
            one_time: OneTimeTokens::new(table.clone()),
            organizations: OrganizationRepo::new(table.clone()),
            producer: Producer::new(
                aws,
                JobRepo::new(table.clone()),
                QueueUrls::from_env(env, &[QueueName::Jobs])?,
            ),
            bootstrap_admins: emails("BOOTSTRAP_ADMIN_EMAILS"),
            bootstrap_superadmins: emails("BOOTSTRAP_SUPERADMIN_EMAILS"),
            form_origins: env
                .list("CORS_ALLOW_ORIGINS")
                .into_iter()
                .map(|origin| origin.trim_end_matches('/').to_owned())
                .collect(),
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
        .route("/public/auth/logout", post(handlers::logout))
        .route("/public/auth/verify-email", post(account::verify_email))
        .route(
            "/public/auth/password/forgot",
            post(account::forgot_password),
        )
        .route("/public/auth/password/reset", post(account::reset_password))
        .route(
            "/app/users/me/verify-email",
            post(sessions::resend_verification),
        )
        .route("/app/users/me/password", post(sessions::change_password))
        .route(
            "/app/users/me/sessions",
            get(sessions::list_sessions).delete(sessions::revoke_other_sessions),
        )
        .route(
            "/app/users/me/sessions/{id}",
            delete(sessions::revoke_session),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(AuthApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::register,
        handlers::login,
        handlers::refresh,
        handlers::logout,
        account::verify_email,
        account::forgot_password,
        account::reset_password,
        sessions::resend_verification,
        sessions::change_password,
        sessions::list_sessions,
        sessions::revoke_session,
        sessions::revoke_other_sessions
    ),
    tags(
        (name = "Auth", description = "Sign-up, sign-in, the refresh cookie, email verification and password reset"),
        (name = "Users", description = "The signed-in user's profile")
    )
)]
struct AuthApi;
