//! The usage routes of admins: any user's reports, as `GET /app/usage/*` shows them to
//! the user (the same `*_of` functions), and the month's heaviest users.

use std::collections::BTreeMap;

use aloft_auth::AdminUser;
use aloft_core::ApiError;
use aloft_http::{
    Query, Reply,
    openapi::{AdminOnly, ErrorBody, InvalidQuery},
};
use aloft_store::{Key, UserRecord, usage::API_REQUESTS};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    handlers::{
        DailyUsage, MetricList, Trends, UsageBreakdown, UsageSummary, breakdown_of, daily_of,
        metric_list, summary_of, today, trends_of,
    },
    report::{self, MetricQuery, Period},
};

/// `reading` of `user_id`, once the id is known to name a user (404 otherwise); both
/// reads run together.
async fn of_user<T: Serialize>(
    state: &AppState,
    user_id: &str,
    reading: impl Future<Output = Result<T, ApiError>>,
) -> Result<Reply<T>, ApiError> {
    let (user, reading) = tokio::join!(state.users.get(user_id), reading);
    user?.ok_or_else(|| ApiError::not_found("User", user_id))?;
    Ok(Reply::ok(reading?))
}

/// A user's usage summary, for admins.
#[utoipa::path(
    get,
    path = "/admin/usage/summary/{user_id}",
    tag = "Admin",
    params(("user_id" = String, Path, description = "The user's id"), MetricQuery),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "The user's summary, as `GET /app/usage/summary` shows it to them", body = UsageSummary),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Unknown `metric`", body = ErrorBody),
    )
)]
pub(crate) async fn admin_summary(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(user_id): Path<String>,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<UsageSummary>, ApiError> {
    of_user(&state, &user_id, summary_of(&state, &user_id, &query)).await
}

/// A user's trend of a metric, for admins.
#[utoipa::path(
    get,
    path = "/admin/usage/trends/{user_id}",
    tag = "Admin",
    params(("user_id" = String, Path, description = "The user's id"), MetricQuery),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "The user's trend, as `GET /app/usage/trends` shows it to them", body = Trends),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Unknown `metric`, or `days` outside 1–90", body = ErrorBody),
    )
)]
pub(crate) async fn admin_trends(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(user_id): Path<String>,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<Trends>, ApiError> {
    of_user(&state, &user_id, trends_of(&state, &user_id, &query)).await
}

/// A user's metric day by day, for admins.
#[utoipa::path(
    get,
    path = "/admin/usage/daily/{user_id}",
    tag = "Admin",
    params(("user_id" = String, Path, description = "The user's id"), MetricQuery),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "The user's days, as `GET /app/usage/daily` shows them to them", body = DailyUsage),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Unknown `metric`, or `days` outside 1–90", body = ErrorBody),
    )
)]
pub(crate) async fn admin_daily(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(user_id): Path<String>,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<DailyUsage>, ApiError> {
    of_user(&state, &user_id, daily_of(&state, &user_id, &query)).await
}

/// A user's month of a metric by its dimension, for admins.
#[utoipa::path(
    get,
    path = "/admin/usage/breakdown/{user_id}",
    tag = "Admin",
    params(("user_id" = String, Path, description = "The user's id"), MetricQuery),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "The user's month, as `GET /app/usage/breakdown` shows it to them", body = UsageBreakdown),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Unknown `metric`", body = ErrorBody),
    )
)]
pub(crate) async fn admin_breakdown(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(user_id): Path<String>,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<UsageBreakdown>, ApiError> {
    of_user(&state, &user_id, breakdown_of(&state, &user_id, &query)).await
}

/// The metrics that are counted, for admins (the list `GET /app/usage/metrics` gives).
#[utoipa::path(
    get,
    path = "/admin/usage/metrics",
    tag = "Admin",
    responses(
        AdminOnly,
        (status = 200, description = "Every metric with its name, description and unit", body = MetricList),
    )
)]
pub(crate) async fn admin_metrics(AdminUser(_): AdminUser) -> Reply<MetricList> {
    Reply::ok(metric_list())
}

/// `?metric=&limit=` of the ranking.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// The metric to rank by (default `api_requests`).
    #[param(
        pattern = "^(api_requests|ai_tokens|ai_requests|storage_bytes|file_uploads|file_downloads|websocket_messages|background_jobs|email_sent)$"
    )]
    pub metric: Option<String>,
    /// How many users, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUser {
    pub user_id: String,
    pub email: String,
    pub value: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUsers {
    pub metric: &'static str,
    /// Highest first.
    pub users: Vec<TopUser>,
    pub period: Period,
}

/// This month's heaviest users of a metric, from the month's ranking index (it reads at
/// most `limit` rows of each of its 16 shards, however many users there are). For
/// `api_requests` a user's ranked total leaves out their requests of the current minute.
#[utoipa::path(
    get,
    path = "/admin/usage/top-users",
    tag = "Admin",
    params(TopQuery),
    responses(
        AdminOnly, InvalidQuery,
        (status = 200, description = "Users by this month's total, highest first", body = TopUsers),
        (status = 422, description = "Unknown `metric`, or `limit` outside 1–100", body = ErrorBody),
    )
)]
pub(crate) async fn top_users(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<TopQuery>,
) -> Result<Reply<TopUsers>, ApiError> {
    let metric = report::parse_metric(query.metric.as_deref().unwrap_or(API_REQUESTS.key))?;
    let limit = match query.limit.unwrap_or(10) {
        limit @ 1..=100 => i32::try_from(limit).unwrap_or(100),
        _ => {
            return Err(ApiError::validation(
                "limit",
                "limit must be between 1 and 100",
            ));
        }
    };
    let today = today();
    let ranking = state.usage.top(metric, today, limit).await?;
    let keys: Vec<_> = ranking
        .users
        .iter()
        .map(|r| Key::user(&r.user_id))
        .collect();
    let profiles: Vec<UserRecord> = state.table.get_many(&keys).await?;
    let emails: BTreeMap<_, _> = profiles.into_iter().map(|u| (u.id, u.email)).collect();
    tracing::debug!(
        usage.ranking_rows = ranking.items_read,
        "top users read from the ranking"
    );
    Ok(Reply::ok(TopUsers {
        metric: metric.key,
        users: ranking
            .users
            .into_iter()
            .map(|r| TopUser {
                email: emails.get(&r.user_id).cloned().unwrap_or_default(),
                user_id: r.user_id,
                value: r.value,
            })
            .collect(),
        period: Period::of(today),
    }))
}
