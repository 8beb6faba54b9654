//! Readiness: every dependency answers within a short deadline.

use std::{collections::BTreeMap, future::Future, time::Instant};

use aloft_core::ApiError;
use aloft_http::{
    Reply,
    openapi::{ErrorBody, RateLimited},
};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The state of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `healthy` when every component is.
    #[schema(example = "healthy")]
    pub status: &'static str,
    pub timestamp: String,
    /// `database` (DynamoDB), `storage` (S3), `queue` (SQS).
    pub components: BTreeMap<&'static str, ComponentReport>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentReport {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    pub latency_ms: u64,
    /// Why it is unhealthy: `timeout` or `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Readiness: checks DynamoDB (DescribeTable), S3 (HeadBucket) and SQS
/// (GetQueueAttributes) concurrently, each within `READINESS_TIMEOUT_MS`.
#[utoipa::path(
    get,
    path = "/public/health/ready",
    tag = "Health",
    responses(
        RateLimited,
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "A dependency is down; `details.components` says which", body = ErrorBody),
    )
)]
pub(crate) async fn check_readiness(
    State(state): State<AppState>,
) -> Result<Reply<Readiness>, ApiError> {
    let aws = &state.aws;
    let (database, storage, queue) = tokio::join!(
        probe(
            &state,
            "database",
            aws.dynamodb
                .describe_table()
                .table_name(&state.table)
                .send()
        ),
        probe(
            &state,
            "storage",
            state.aws.s3().head_bucket().bucket(&state.bucket).send()
        ),
        probe(
            &state,
            "queue",
            state
                .aws
                .sqs()
                .get_queue_attributes()
                .queue_url(&state.jobs_queue_url)
                .send()
        ),
    );
    let components = BTreeMap::from([database, storage, queue]);
    let down: Vec<&str> = components
        .iter()
        .filter(|(_, c)| c.error.is_some())
        .map(|(name, _)| *name)
        .collect();
    let timestamp = aloft_core::timestamp::now();
    if down.is_empty() {
        return Ok(Reply::ok(Readiness {
            status: "healthy",
            timestamp,
            components,
        }));
    }
    let report = Readiness {
        status: "unhealthy",
        timestamp,
        components,
    };
    Err(ApiError::ServiceUnavailable {
        message: format!("Not ready: {} unavailable", down.join(", ")).into(),
        details: serde_json::to_value(report).ok(),
        retry_after: None,
    })
}

async fn probe<T, E: std::fmt::Debug>(
    state: &AppState,
    component: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> (&'static str, ComponentReport) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(state.check_timeout, call).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(component, error.cause = ?e, "readiness check failed");
            Some("error")
        }
        Err(_) => {
            tracing::warn!(component, "readiness check timed out");
            Some("timeout")
        }
    };
    let status = if error.is_some() {
        "unhealthy"
    } else {
        "healthy"
    };
    (
        component,
        ComponentReport {
            status,
            latency_ms,
            error,
        },
    )
}
