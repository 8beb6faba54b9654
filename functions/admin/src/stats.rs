//! `GET /admin/dashboard/stats`: the reference's shape, read from the counters the
//! stores keep as users, deliveries and jobs change (two reads, no scan).

use std::collections::BTreeMap;

use aloft_auth::{AdminUser, Plan};
use aloft_core::ApiError;
use aloft_http::{Reply, openapi::AdminOnly};
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardStats {
    pub users: UserStats,
    pub subscriptions: SubscriptionStats,
    pub webhooks: WebhookStats,
    pub jobs: JobStats,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStats {
    pub total: i64,
    pub active: i64,
    pub new_last_7_days: i64,
    pub new_last_30_days: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionStats {
    /// Users on a paid plan whose subscription is paid for (active, trialing, past due).
    pub active: i64,
    /// Users per plan.
    pub by_plan: BTreeMap<String, i64>,
}

/// Outgoing webhook deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookStats {
    pub total: i64,
    /// Given up on after the last attempt.
    pub failed: i64,
    /// Not delivered yet (first attempt or retries to come).
    pub pending: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobStats {
    /// Waiting for their first run, or for a run after an admin's retry.
    pub queued: i64,
    pub completed_last_24h: i64,
    /// Dead (out of attempts) in the last 24 hours.
    pub failed_last_24h: i64,
}

/// Counts of users, subscriptions, webhook deliveries and jobs.
#[utoipa::path(
    get,
    path = "/admin/dashboard/stats",
    tag = "Admin",
    responses(
        AdminOnly,
        (status = 200, description = "The dashboard's counts", body = DashboardStats),
    )
)]
pub(crate) async fn dashboard_stats(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Reply<DashboardStats>, ApiError> {
    let counters = state.stats.read(OffsetDateTime::now_utc()).await?;
    let total = |counter: &str| counters.total(counter);
    let sum = |sums: &BTreeMap<String, i64>, counter: &str| sums.get(counter).copied().unwrap_or(0);
    let by_plan = [Plan::Free, Plan::Pro, Plan::Enterprise]
        .into_iter()
        .map(|plan| {
            let name = plan.as_str();
            (name.to_owned(), total(&format!("plan_{name}")))
        })
        .collect();
    Ok(Reply::ok(DashboardStats {
        users: UserStats {
            total: total("users_total"),
            active: total("users_active"),
            new_last_7_days: sum(&counters.last_7_days, "users_new"),
            new_last_30_days: sum(&counters.last_30_days, "users_new"),
        },
        subscriptions: SubscriptionStats {
            active: total("subscriptions_active"),
            by_plan,
        },
        webhooks: WebhookStats {
            total: total("webhooks_total"),
            failed: total("webhooks_failed"),
            pending: total("webhooks_pending"),
        },
        jobs: JobStats {
            queued: total("jobs_queued"),
            completed_last_24h: sum(&counters.last_24_hours, "jobs_completed"),
            failed_last_24h: sum(&counters.last_24_hours, "jobs_failed"),
        },
    }))
}
