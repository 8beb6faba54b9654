//! `projects`: tenant-scoped CRUD under `/api/{v1,v2}/app/projects`. Lists page with
//! `skip`/`limit` or `cursor`/`next_cursor`, newest first in key order at a cost that
//! does not grow with the tenant (a search or another sort reads a bounded window and
//! says so); the tenant's `total` is a count kept with every create and delete. Deletes
//! are soft (the project moves to the tenant's deleted projects); writes use
//! the item's version for optimistic concurrency (`ETag` out, `If-Match` in, 412 on a
//! mismatch). Another tenant's project is 404 on every route. Every change is published
//! (`project.created`, `project.updated`, `project.deleted`) to the tenant's webhook
//! subscriptions and the `project:<id>` and `tenant:<id>` channels.

mod handlers;
mod model;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, Publisher, QueueName, QueueUrls};
use aloft_store::{AwsClients, JobRepo, ProjectRepo, Table};
use axum::{Router, routing::get};
use utoipa::OpenApi;

/// What the projects function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Projects {
    pub projects: ProjectRepo,
    /// `project.created`/`updated`/`deleted` to webhooks and the realtime channels.
    pub publisher: Publisher,
}

impl AppParts for Projects {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs])?;
        let producer = Producer::new(aws, JobRepo::new(table.clone()), urls);
        Ok(Self {
            projects: ProjectRepo::new(table.clone()),
            publisher: Publisher::new(producer),
        })
    }
}

/// The function's state: the guard and [`Projects`].
pub type AppState = App<Projects>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route(
            "/app/projects",
            get(handlers::list_projects).post(handlers::create_project),
        )
        .route(
            "/app/projects/{project_id}",
            get(handlers::get_project)
                .patch(handlers::update_project)
                .delete(handlers::delete_project),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(ProjectsApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::list_projects,
        handlers::create_project,
        handlers::get_project,
        handlers::update_project,
        handlers::delete_project
    ),
    components(schemas(model::SortField, model::SortOrder)),
    tags((name = "Projects", description = "The caller's tenant's projects"))
)]
struct ProjectsApi;
