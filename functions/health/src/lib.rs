//! `health`: liveness (`GET /api/{v1,v2}/public/health`) and readiness
//! (`GET /api/{v1,v2}/public/health/ready`), which really calls DynamoDB, S3 and SQS
//! with a short deadline and answers 503 naming the component that is down. Both are
//! also served outside the versions, at `GET /health` and `GET /health/ready`, where load
//! balancers and uptime checks look.
//!
//! It also serves API Gateway's `$default` route, so unknown paths and wrong methods get
//! our JSON envelope. Run locally with `make dev`; tests: `cargo test -p fn-health`.

mod readiness;

use std::time::Duration;

use aloft_auth::{Guard, guarded};
use aloft_config::{ConfigError, Env};
use aloft_http::{
    ApiVersion, HttpConfig, Reply,
    openapi::{RateLimited, versioned_document},
    versioned,
};
use aloft_store::{AwsClients, AwsSettings, Table};
use axum::{Router, routing::get};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

pub use readiness::{ComponentReport, Readiness};

/// What the health function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct AppState {
    pub aws: AwsClients,
    pub table: String,
    pub bucket: String,
    pub jobs_queue_url: String,
    /// Deadline for each readiness check.
    pub check_timeout: Duration,
    pub guard: Guard,
}

impl AppState {
    /// Reads `TABLE_NAME`, `BUCKET_NAME`, `JOBS_QUEUE_URL`, `READINESS_TIMEOUT_MS` and the
    /// AWS settings, and builds the clients.
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let settings = AwsSettings::from_env(env)?;
        let table = env.required("TABLE_NAME")?;
        let bucket = env.required("BUCKET_NAME")?;
        let jobs_queue_url = env.required("JOBS_QUEUE_URL")?;
        let check_timeout = Duration::from_millis(env.parse_or("READINESS_TIMEOUT_MS", 1000)?);
        let aws = AwsClients::connect(&settings).await;
        let guard = Guard::from_env(env, Table::new(aws.dynamodb.clone(), table.clone()))?;
        Ok(Self {
            aws,
            guard,
            table,
            bucket,
            jobs_queue_url,
            check_timeout,
        })
    }
}

/// Liveness: the process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// ISO 8601, UTC.
    pub timestamp: String,
}

/// Each probe's path under the versions and its unversioned path.
const UNVERSIONED: [(&str, &str); 2] = [
    ("/public/health", "/health"),
    ("/public/health/ready", "/health/ready"),
];

/// The function's app: routes under every API version and [`UNVERSIONED`], wrapped by
/// the shared edge (the same guard and rate class for both).
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/public/health", get(check_health))
        .route("/public/health/ready", get(readiness::check_readiness));
    let unversioned = Router::new()
        .route("/health", get(check_health))
        .route("/health/ready", get(readiness::check_readiness));
    let guard = state.guard.clone();
    let app = versioned(routes).merge(unversioned).with_state(state);
    guarded(app, guard, http)
}

/// The OpenAPI document of this function's routes, the unversioned ones included.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let relative = HealthApi::openapi();
    let mut api = versioned_document(relative.clone());
    document_unversioned(&mut api, &relative);
    api
}

/// An unversioned path is answered as the latest version (the edge picks it from the
/// `Accept-Version` header, else the latest), so each is documented as a copy of the
/// latest version's operation: its body shape is that version's, only its id differs.
/// `versioned_document` puts every path under `/api/{v}`, hence this second step.
fn document_unversioned(api: &mut utoipa::openapi::OpenApi, relative: &utoipa::openapi::OpenApi) {
    let latest = ApiVersion::LATEST.as_str();
    for (path, bare) in UNVERSIONED {
        let versioned_path = format!("/api/{latest}{path}");
        let Some(mut item) = api.paths.paths.get(&versioned_path).cloned() else {
            continue;
        };
        let id = (relative.paths.paths.get(path))
            .and_then(|source| source.get.as_ref()?.operation_id.clone());
        if let (Some(operation), Some(id)) = (item.get.as_mut(), id) {
            operation.operation_id = Some(format!("{id}_unversioned"));
            let note = format!(
                "`{versioned_path}` outside the versions: the body is {latest}'s \
                 unless `Accept-Version: v1` asks for v1's."
            );
            let described = operation.description.take().map(|d| format!("{d}\n\n"));
            operation.description = Some(described.unwrap_or_default() + &note);
        }
        api.paths.paths.insert(bare.to_owned(), item);
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(check_health, readiness::check_readiness),
    tags((name = "Health", description = "Liveness and readiness probes (no auth)"))
)]
struct HealthApi;

/// Liveness: answers as long as the function runs. Makes no AWS call.
#[utoipa::path(
    get,
    path = "/public/health",
    tag = "Health",
    responses(
        RateLimited,
        (status = 200, description = "The function is up", body = Health),
    )
)]
async fn check_health() -> Reply<Health> {
    Reply::ok(Health {
        status: "healthy",
        timestamp: aloft_core::timestamp::now(),
    })
}
