//! `admin`: operator routes under `/api/{v1,v2}/admin`, for the admin role only. Now: the
//! job queue — list jobs by status, and retry a dead one (its message left the queue for
//! the dead-letter queue; retrying queues it again with its attempts reset).

mod jobs;

use aloft_auth::{Authenticator, Guard, guarded};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document, versioned};
use aloft_queue::{Producer, QueueName, QueueUrls};
use aloft_store::{AwsClients, AwsSettings, JobRepo, Table};
use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};
use utoipa::OpenApi;

/// What the admin function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct AppState {
    pub jobs: JobRepo,
    pub producer: Producer,
    pub guard: Guard,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.guard.authenticator().clone()
    }
}

impl AppState {
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
        let table = Table::new(aws.dynamodb, env.required("TABLE_NAME")?);
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs, QueueName::Webhooks])?;
        let jobs = JobRepo::new(table.clone());
        Ok(Self {
            producer: Producer::new(aws.sqs, jobs.clone(), urls),
            jobs,
            guard: Guard::from_env(env, table)?,
        })
    }
}

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/admin/jobs", get(jobs::list_jobs))
        .route("/admin/jobs/{id}/retry", post(jobs::retry_job));
    let guard = state.guard.clone();
    guarded(versioned(routes).with_state(state), guard, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(AdminApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(jobs::list_jobs, jobs::retry_job),
    tags((name = "Admin", description = "Operator routes (admin role)"))
)]
struct AdminApi;
