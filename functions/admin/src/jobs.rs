//! `GET /admin/jobs`, `GET /admin/jobs/{id}`, `POST /admin/jobs/{id}/retry` and
//! `DELETE /admin/jobs/{id}` (cancel a queued job).

use aloft_auth::{AdminUser, Audit};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Paging, Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use aloft_queue::{Job, Queued as _};
use aloft_store::{JobRecord, JobStatus, StoreError};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// `?status=` of the job list (its paging is [`Paging`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// `queued`, `running`, `succeeded`, `failed`, `dead` or `cancelled`; all when
    /// absent. With a status, only that status's jobs are read.
    pub status: Option<String>,
}

/// A job as admins see it (its payload stays private: it may hold personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub queue: String,
    /// `queued`, `running`, `succeeded`, `failed` (retrying), `dead` or `cancelled`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl From<JobRecord> for JobView {
    fn from(job: JobRecord) -> Self {
        Self {
            id: job.id,
            kind: job.kind,
            queue: job.queue,
            status: job.status.as_str().to_owned(),
            attempts: job.attempts,
            last_error: job.last_error,
            created_at: job.created_at,
            updated_at: job.updated_at,
            finished_at: job.finished_at,
        }
    }
}

/// List jobs, newest first.
///
/// A page at a time from the status index: a page reads `limit + 1` jobs per status it
/// covers (by `cursor`; `skip + limit + 1` by `skip`, at most 1,000 in all). `total` is
/// the dashboard's counter for `queued`; other statuses are counted up to 1,000 jobs
/// (`total_exact: false` past that).
#[utoipa::path(
    get,
    path = "/admin/jobs",
    tag = "Admin",
    params(JobFilter, PageParams),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "One page of jobs, newest first; `next_cursor` continues the list. \
            Reads are bounded: a `skip` past 1,000 jobs sets `truncated`, and a `total` \
            past 1,000 uncounted jobs is a lower bound (`total_exact: false`)", body = Page<JobView>,
            links(("RetryJob" = (operation_id = "retry_job", parameters(("id" = "$response.body#/items/0/id")))))),
        (status = 422, description = "Unknown status, bad skip/limit, or a cursor of another list", body = ErrorBody),
    )
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(query): Query<JobFilter>,
    paging: Paging,
) -> Result<Reply<Page<JobView>>, ApiError> {
    let status = match query.status.as_deref() {
        Some(raw) => Some(JobStatus::parse(raw).ok_or_else(|| {
            ApiError::validation(
                "status",
                "status must be queued, running, succeeded, failed, dead or cancelled",
            )
        })?),
        None => None,
    };
    let scope = format!("jobs:{}", status.map_or("all", JobStatus::as_str));
    let request = paging.parse(&scope)?;
    let slice = state.jobs.page(status, &request).await?;
    Ok(Reply::ok(Page::from_slice(slice, &request, JobView::from)))
}

/// One job.
#[utoipa::path(
    get,
    path = "/admin/jobs/{id}",
    tag = "Admin",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        AdminOnly,
        (status = 200, description = "The job", body = JobView,
            links(
                ("RetryJob" = (operation_id = "retry_job", parameters(("id" = "$response.body#/id")))),
                ("CancelJob" = (operation_id = "cancel_job", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Reply<JobView>, ApiError> {
    let job = state
        .jobs
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job", id))?;
    Ok(Reply::ok(job.into()))
}

/// Cancel a queued job: it never runs (its message, when delivered, is acknowledged
/// without running it) and it leaves the dashboard's queued count. An outgoing
/// webhook's delivery job takes its delivery with it (`cancelled`).
#[utoipa::path(
    delete,
    path = "/admin/jobs/{id}",
    tag = "Admin",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        AdminOnly,
        (status = 200, description = "Cancelled", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not queued: running, failed and waiting for its retry, or finished", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_job(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<Reply<JobView>, ApiError> {
    let now = aloft_core::timestamp::now();
    // A delivery job's delivery ends with it, not `pending` for its 30 days.
    let delivery = async |queued: &JobRecord| match Job::from_record(queued) {
        Ok(Job::Delivery(d)) => {
            let webhooks = &state.webhooks;
            webhooks
                .cancellation(&d.tenant, &d.subscription_id, &d.delivery_id, &now)
                .await
        }
        _ => Ok(None),
    };
    let job = changed(
        state.jobs.cancel(&id, &now, delivery).await,
        &id,
        "Only queued jobs can be cancelled",
    )?;
    tracing::info!(
        job.id = job.id.as_str(),
        admin.id = admin.user_id.as_str(),
        "queued job cancelled"
    );
    Ok(audited(&audit, "job.cancel", job).await)
}

/// Retry a dead job: back on its queue with attempts reset.
#[utoipa::path(
    post,
    path = "/admin/jobs/{id}/retry",
    tag = "Admin",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        AdminOnly,
        (status = 200, description = "Queued again", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not dead", body = ErrorBody),
    )
)]
pub(crate) async fn retry_job(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<Reply<JobView>, ApiError> {
    let now = aloft_core::timestamp::now();
    let job = changed(
        state.jobs.requeue_dead(&id, &now).await,
        &id,
        "Only dead jobs can be retried",
    )?;
    // Queued again: if the message cannot be sent now, the relay sends it.
    state.producer.send_or_relay(&job).await;
    tracing::info!(
        job.id = job.id.as_str(),
        admin.id = admin.user_id.as_str(),
        "dead job retried"
    );
    Ok(audited(&audit, "job.retry", job).await)
}

/// A job's status change as answered: the job, 404 if there is none, 409 (`refusal`)
/// if it is not in the status the change starts from.
fn changed(
    result: Result<Option<JobRecord>, StoreError>,
    id: &str,
    refusal: &'static str,
) -> Result<JobRecord, ApiError> {
    match result {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(ApiError::not_found("Job", id)),
        Err(StoreError::ConditionFailed) => Err(ApiError::Conflict(refusal.into())),
        Err(e) => Err(e.into()),
    }
}

/// Records `action` on `job` in the audit log (the job after it) and answers the job.
async fn audited(audit: &Audit, action: &str, job: JobRecord) -> Reply<JobView> {
    let view = JobView::from(job);
    let after = serde_json::to_value(&view).ok();
    audit
        .record(action, "job", Some(&view.id), None, after)
        .await;
    Reply::ok(view)
}
