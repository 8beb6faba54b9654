//! `usage`: what each user used, from the counters every function keeps as usage
//! happens (`aloft_store::usage`).
//!
//! - `GET /app/usage/{summary,current-period,trends,daily,breakdown,metrics}`: the
//!   caller's own usage; acting in an organization, the organization's (AI, files and
//!   storage are charged to it, pooled). The period is the calendar month, UTC.
//! - `GET /app/usage/members`: an organization's pooled use by member (owner, admins).
//! - `GET /admin/usage/{summary,trends,daily,breakdown}/{user_id}`,
//!   `GET /admin/usage/metrics`, `GET /admin/usage/top-users`: any user's reports, as the
//!   user sees them, and the month's heaviest users from the ranking index (admin role).

mod admin;
mod handlers;
pub mod report;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{AwsClients, Table, UsageMeter, UserRepo};
use axum::{Router, routing::get};
use utoipa::OpenApi;

/// What the usage function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Usage {
    pub usage: UsageMeter,
    pub users: UserRepo,
    pub table: Table,
}

impl AppParts for Usage {
    fn build(_env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        Ok(Self {
            usage: UsageMeter::new(table.clone()),
            users: UserRepo::new(table.clone()),
            table: table.clone(),
        })
    }
}

/// The function's state: the guard and [`Usage`].
pub type AppState = App<Usage>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/usage/summary", get(handlers::summary))
        .route("/app/usage/current-period", get(handlers::current_period))
        .route("/app/usage/trends", get(handlers::trends))
        .route("/app/usage/daily", get(handlers::daily))
        .route("/app/usage/breakdown", get(handlers::breakdown))
        .route("/app/usage/metrics", get(handlers::metrics))
        .route("/app/usage/members", get(handlers::by_member))
        .route("/admin/usage/summary/{user_id}", get(admin::admin_summary))
        .route("/admin/usage/trends/{user_id}", get(admin::admin_trends))
        .route("/admin/usage/daily/{user_id}", get(admin::admin_daily))
        .route(
            "/admin/usage/breakdown/{user_id}",
            get(admin::admin_breakdown),
        )
        .route("/admin/usage/metrics", get(admin::admin_metrics))
        .route("/admin/usage/top-users", get(admin::top_users));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(UsageApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::summary,
        handlers::current_period,
        handlers::trends,
        handlers::daily,
        handlers::breakdown,
        handlers::metrics,
        handlers::by_member,
        admin::admin_summary,
        admin::admin_trends,
        admin::admin_daily,
        admin::admin_breakdown,
        admin::admin_metrics,
        admin::top_users
    ),
    tags((name = "Usage", description = "What the caller used this month, by day, model and route group"))
)]
struct UsageApi;
