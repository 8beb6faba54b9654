//! `admin`: operator routes under `/api/{v1,v2}/admin`, for the admin role only: users
//! (`/admin/users`), organizations (`/admin/organizations`), the dashboard's stats and audit log (`/admin/dashboard/*`), the job
//! queue — list jobs by status, read one, retry a dead one (its message left the queue
//! for the dead-letter queue; retrying queues it again with its attempts reset) and
//! cancel a queued one (its message is acknowledged unrun) — and impersonation
//! (`/admin/impersonate/{start,stop,active}`). Every change an admin makes is audited.

mod audit_logs;
mod impersonation;
mod jobs;
mod organizations;
mod stats;
mod users;

use aloft_auth::{App, AppParts, Deactivation};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, Publisher, QueueName, QueueUrls};
use std::time::Duration;

use aloft_store::{
    AwsClients, ImpersonationSessions, JobRepo, OrganizationRepo, Stats, Table, UserRepo,
    WebhookRepo,
};
use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

/// What the admin function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Admin {
    pub jobs: JobRepo,
    pub producer: Producer,
    pub users: UserRepo,
    pub organizations: OrganizationRepo,
    pub sessions: ImpersonationSessions,
    /// How long an impersonation token lives.
    pub impersonation_ttl: Duration,
    pub deactivation: Deactivation,
    pub stats: Stats,
    /// A cancelled delivery job's delivery is marked `cancelled` with it.
    pub webhooks: WebhookRepo,
    /// Tells a user, on their open connections, what an admin changed.
    pub publisher: Publisher,
}

impl AppParts for Admin {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs, QueueName::Webhooks])?;
        let jobs = JobRepo::new(table.clone());
        let producer = Producer::new(aws, jobs.clone(), urls);
        Ok(Self {
            publisher: Publisher::new(producer.clone()),
            producer,
            jobs,
            users: UserRepo::new(table.clone()),
            organizations: OrganizationRepo::new(table.clone()),
            sessions: ImpersonationSessions::new(table.clone()),
            impersonation_ttl: aloft_auth::impersonation_ttl(env)?,
            deactivation: Deactivation::from_env(env, table)?,
            stats: Stats::new(table.clone()),
            webhooks: WebhookRepo::new(table.clone()),
        })
    }
}

/// The function's state: the guard and [`Admin`].
pub type AppState = App<Admin>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/admin/users", get(users::list_users))
        .route(
            "/admin/users/{id}",
            get(users::get_user).patch(users::update_user),
        )
        .route("/admin/users/{id}/deactivate", post(users::deactivate_user))
        .route("/admin/users/{id}/activate", post(users::activate_user))
        .route(
            "/admin/organizations",
            get(organizations::list_organizations),
        )
        .route(
            "/admin/organizations/{id}",
            get(organizations::get_organization),
        )
        .route("/admin/dashboard/stats", get(stats::dashboard_stats))
        .route("/admin/jobs", get(jobs::list_jobs))
        .route(
            "/admin/jobs/{id}",
            get(jobs::get_job).delete(jobs::cancel_job),
        )
        .route("/admin/jobs/{id}/retry", post(jobs::retry_job))
        .route(
            "/admin/dashboard/audit-logs",
            get(audit_logs::list_audit_logs),
        )
        .route(
            "/admin/dashboard/audit-logs/{id}",
            get(audit_logs::get_audit_log),
        )
        .route(
            "/admin/impersonate/start",
            post(impersonation::start_impersonation),
        )
        .route(
            "/admin/impersonate/stop",
            post(impersonation::stop_impersonation),
        )
        .route(
            "/admin/impersonate/active",
            get(impersonation::list_active_impersonations),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(AdminApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        users::list_users,
        users::get_user,
        organizations::list_organizations,
        organizations::get_organization,
        users::update_user,
        users::deactivate_user,
        users::activate_user,
        stats::dashboard_stats,
        jobs::list_jobs,
        jobs::get_job,
        jobs::retry_job,
        jobs::cancel_job,
        audit_logs::list_audit_logs,
        audit_logs::get_audit_log,
        impersonation::start_impersonation,
        impersonation::stop_impersonation,
        impersonation::list_active_impersonations
    ),
    tags((name = "Admin", description = "Operator routes (admin role)"))
)]
struct AdminApi;

/// A directory search as typed: trimmed and lowercased; empty is no search.
pub(crate) fn search_term(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}
