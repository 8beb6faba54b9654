//! The usage routes of a user (in an organization: of the organization, with its use by
//! member for its owner and admins). Each report is an `*_of(user_id)` function that
//! `crate::admin` also serves for any user.

use std::collections::BTreeMap;

use aloft_auth::AuthUser;
use aloft_core::ApiError;
use aloft_http::{
    Query, Reply,
    openapi::{ErrorBody, InvalidQuery, SignedIn},
};
use aloft_store::{
    Metric,
    usage::{
        AI_REQUESTS, AI_TOKENS, API_REQUESTS, BACKGROUND_JOBS, Breakdown, EMAIL_SENT,
        FILE_DOWNLOADS, FILE_UPLOADS, METRICS, STORAGE_BYTES, WEBSOCKET_MESSAGES, month_key,
        previous_month,
    },
};
use axum::extract::State;
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};
use utoipa::ToSchema;

use crate::{
    AppState,
    report::{
        self, MetricQuery, MetricSummary, Period, average, daily_series, growth_rate,
        months_between, summarize,
    },
};

pub(crate) fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Every metric's (or one metric's) current and previous period.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSummary {
    pub metrics: BTreeMap<&'static str, MetricSummary>,
    pub period: Period,
}

pub(crate) async fn summary_of(
    state: &AppState,
    user_id: &str,
    query: &MetricQuery,
) -> Result<UsageSummary, ApiError> {
    let metrics = match &query.metric {
        Some(key) => vec![report::parse_metric(key)?],
        None => METRICS.to_vec(),
    };
    let today = today();
    let previous = previous_month(today);
    let months = state
        .usage
        .months(user_id, &metrics, &[previous, today])
        .await?;
    let total = |metric: Metric, month: Date| {
        months
            .get(&(metric.key, month_key(month)))
            .map_or(0, |m| m.total)
    };
    Ok(UsageSummary {
        metrics: metrics
            .iter()
            .map(|m| {
                (
                    m.key,
                    summarize(total(*m, today), total(*m, previous), today),
                )
            })
            .collect(),
        period: Period::of(today),
    })
}

/// This month's usage against the whole previous month.
#[utoipa::path(
    get,
    path = "/app/usage/summary",
    tag = "Usage",
    params(MetricQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "Per metric: this month so far, last month, growth in percent, daily average this month", body = UsageSummary),
        (status = 422, description = "Unknown `metric`", body = ErrorBody),
    )
)]
pub(crate) async fn summary(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<UsageSummary>, ApiError> {
    Ok(Reply::ok(
        summary_of(&state, &principal.usage_owner().id, &query).await?,
    ))
}

/// Every metric's total this month.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentPeriod {
    pub api_requests: i64,
    pub ai_tokens: i64,
    pub ai_requests: i64,
    pub storage_bytes: i64,
    pub file_uploads: i64,
    pub file_downloads: i64,
    pub websocket_messages: i64,
    pub background_jobs: i64,
    pub email_sent: i64,
    pub period: Period,
}

/// Every metric's total this month (one batch read).
#[utoipa::path(
    get,
    path = "/app/usage/current-period",
    tag = "Usage",
    responses(
        SignedIn,
        (status = 200, description = "This month's totals", body = CurrentPeriod),
    )
)]
pub(crate) async fn current_period(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<CurrentPeriod>, ApiError> {
    let today = today();
    let months = state
        .usage
        .months(&principal.usage_owner().id, &METRICS, &[today])
        .await?;
    let total = |metric: Metric| {
        months
            .get(&(metric.key, month_key(today)))
            .map_or(0, |m| m.total)
    };
    Ok(Reply::ok(CurrentPeriod {
        api_requests: total(API_REQUESTS),
        ai_tokens: total(AI_TOKENS),
        ai_requests: total(AI_REQUESTS),
        storage_bytes: total(STORAGE_BYTES),
        file_uploads: total(FILE_UPLOADS),
        file_downloads: total(FILE_DOWNLOADS),
        websocket_messages: total(WEBSOCKET_MESSAGES),
        background_jobs: total(BACKGROUND_JOBS),
        email_sent: total(EMAIL_SENT),
        period: Period::of(today),
    }))
}

/// A metric over the last `days` days against the `days` before them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trends {
    pub metric: &'static str,
    pub current_period: i64,
    pub previous_period: i64,
    pub growth_rate: f64,
    pub daily_average: f64,
    /// The busiest day of the window (the earliest of equals); `null` when all are 0.
    pub peak_day: Option<String>,
    pub peak_value: i64,
    /// `increasing` / `decreasing` when growth is beyond ±10 %, else `stable`.
    pub trend: &'static str,
}

/// The `days` days ending with `today` (the window) and the `days` before them.
async fn window(
    state: &AppState,
    user_id: &str,
    metric: Metric,
    days: u32,
    with_previous: bool,
) -> Result<Vec<(Date, i64)>, ApiError> {
    let span = if with_previous { days * 2 } else { days };
    let last = today();
    let first = last - Duration::days(i64::from(span) - 1);
    let months = state
        .usage
        .months(user_id, &[metric], &months_between(first, last))
        .await?;
    Ok(daily_series(&months, metric, last, span))
}

/// How a metric moves: the last `days` days (default 30) against the `days` before.
#[utoipa::path(
    get,
    path = "/app/usage/trends",
    tag = "Usage",
    params(MetricQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "Totals of both windows, growth, daily average, peak day and trend", body = Trends),
        (status = 422, description = "Unknown `metric`, or `days` outside 1–90", body = ErrorBody),
    )
)]
pub(crate) async fn trends(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<Trends>, ApiError> {
    Ok(Reply::ok(
        trends_of(&state, &principal.usage_owner().id, &query).await?,
    ))
}

/// `user_id`'s trend of the metric of `query` (`api_requests` when it names none).
pub(crate) async fn trends_of(
    state: &AppState,
    user_id: &str,
    query: &MetricQuery,
) -> Result<Trends, ApiError> {
    let (metric, days) = (query.metric()?, query.days()?);
    let series = window(state, user_id, metric, days, true).await?;
    let (before, current) = series.split_at(series.len() / 2);
    let sum = |days: &[(Date, i64)]| days.iter().map(|(_, v)| v).sum::<i64>();
    let (current_total, previous_total) = (sum(current), sum(before));
    // The first of the highest days: `max_by_key` keeps the last of equals.
    let peak = current
        .iter()
        .rev()
        .max_by_key(|(_, value)| *value)
        .filter(|(_, value)| *value > 0);
    let growth = growth_rate(current_total, previous_total);
    Ok(Trends {
        metric: metric.key,
        current_period: current_total,
        previous_period: previous_total,
        growth_rate: growth,
        daily_average: average(current_total, days),
        peak_day: peak.map(|(day, _)| day.to_string()),
        peak_value: peak.map_or(0, |(_, value)| *value),
        trend: report::trend(growth),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayValue {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub value: i64,
}

/// A metric day by day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyUsage {
    pub metric: &'static str,
    /// Oldest first, every day of the window (0 when nothing happened).
    pub data: Vec<DayValue>,
    pub total: i64,
    pub average: f64,
}

/// A metric day by day over the last `days` days (default 30, at most 90), today included.
#[utoipa::path(
    get,
    path = "/app/usage/daily",
    tag = "Usage",
    params(MetricQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "One value per day, oldest first", body = DailyUsage),
        (status = 422, description = "Unknown `metric`, or `days` outside 1–90", body = ErrorBody),
    )
)]
pub(crate) async fn daily(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<DailyUsage>, ApiError> {
    Ok(Reply::ok(
        daily_of(&state, &principal.usage_owner().id, &query).await?,
    ))
}

/// `user_id`'s days of the metric of `query` (`api_requests` when it names none).
pub(crate) async fn daily_of(
    state: &AppState,
    user_id: &str,
    query: &MetricQuery,
) -> Result<DailyUsage, ApiError> {
    let (metric, days) = (query.metric()?, query.days()?);
    let series = window(state, user_id, metric, days, false).await?;
    let total = series.iter().map(|(_, v)| v).sum();
    Ok(DailyUsage {
        metric: metric.key,
        data: series
            .into_iter()
            .map(|(day, value)| DayValue {
                date: day.to_string(),
                value,
            })
            .collect(),
        total,
        average: average(total, days),
    })
}

/// A metric's month split by its dimension.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBreakdown {
    pub metric: &'static str,
    /// AI metrics by model, `api_requests` by route group, the others by day.
    pub breakdown: BTreeMap<String, i64>,
    pub total: i64,
}

/// This month's usage of a metric, split by model, route group or day.
#[utoipa::path(
    get,
    path = "/app/usage/breakdown",
    tag = "Usage",
    params(MetricQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "The month split by the metric's dimension", body = UsageBreakdown),
        (status = 422, description = "Unknown `metric`", body = ErrorBody),
    )
)]
pub(crate) async fn breakdown(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<MetricQuery>,
) -> Result<Reply<UsageBreakdown>, ApiError> {
    Ok(Reply::ok(
        breakdown_of(&state, &principal.usage_owner().id, &query).await?,
    ))
}

/// `user_id`'s month of the metric of `query` (`api_requests` when it names none) by
/// its dimension.
pub(crate) async fn breakdown_of(
    state: &AppState,
    user_id: &str,
    query: &MetricQuery,
) -> Result<UsageBreakdown, ApiError> {
    let metric = query.metric()?;
    let today = today();
    let month = state.usage.month(user_id, metric, today).await?;
    let breakdown = match metric.breakdown {
        Breakdown::Model | Breakdown::RouteGroup => month.by.clone(),
        Breakdown::Day => month
            .days
            .iter()
            .filter_map(|(day, value)| {
                let date = today.replace_day(*day).ok()?;
                Some((date.to_string(), *value))
            })
            .collect(),
    };
    Ok(UsageBreakdown {
        metric: metric.key,
        breakdown,
        total: month.total,
    })
}

/// The metrics an organization's members share, counted per member.
const POOLED: [Metric; 5] = [
    AI_TOKENS,
    AI_REQUESTS,
    STORAGE_BYTES,
    FILE_UPLOADS,
    FILE_DOWNLOADS,
];

/// One member's share of a metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberShare {
    pub user_id: String,
    /// Empty when the account is gone.
    pub email: String,
    pub value: i64,
}

/// One metric of the organization's month, by member (largest share first).
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricByMember {
    pub metric: &'static str,
    pub total: i64,
    pub members: Vec<MemberShare>,
}

/// The organization's pooled usage this month, by member.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageByMember {
    pub metrics: Vec<MetricByMember>,
    pub period: Period,
}

/// The organization's AI, file and storage use this month, split by member (its owner
/// and admins; acting in the organization). One batch read of its usage items, one of
/// the members' emails.
#[utoipa::path(
    get,
    path = "/app/usage/members",
    tag = "Usage",
    responses(
        SignedIn,
        (status = 200, description = "Per pooled metric: the month's total and each member's share", body = UsageByMember),
        (status = 403, description = "Not acting in an organization as its owner or an admin", body = ErrorBody),
    )
)]
pub(crate) async fn by_member(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<UsageByMember>, ApiError> {
    if !principal.membership.is_some_and(|role| role.manages()) {
        return Err(ApiError::Authorization(
            "Usage by member is an organization's owner's and admins': switch to it first".into(),
        ));
    }
    let today = today();
    let months = state
        .usage
        .months(&principal.usage_owner().id, &POOLED, &[today])
        .await?;
    let month = month_key(today);
    let ids: Vec<&str> = months
        .values()
        .flat_map(|usage| usage.members.keys().map(String::as_str))
        .collect();
    let emails: BTreeMap<String, String> = state
        .users
        .get_many(&ids)
        .await?
        .into_iter()
        .map(|user| (user.id, user.email))
        .collect();
    let metrics = POOLED
        .iter()
        .map(|metric| {
            let usage = months.get(&(metric.key, month.clone()));
            let mut members: Vec<MemberShare> = usage
                .into_iter()
                .flat_map(|usage| &usage.members)
                .map(|(user_id, value)| MemberShare {
                    email: emails.get(user_id).cloned().unwrap_or_default(),
                    user_id: user_id.clone(),
                    value: *value,
                })
                .collect();
            members.sort_by(|a, b| b.value.cmp(&a.value).then(a.user_id.cmp(&b.user_id)));
            MetricByMember {
                metric: metric.key,
                total: usage.map_or(0, |u| u.total),
                members,
            }
        })
        .collect();
    Ok(Reply::ok(UsageByMember {
        metrics,
        period: Period::of(today),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricList {
    pub metrics: Vec<MetricInfo>,
}

/// The metrics that are counted.
#[utoipa::path(
    get,
    path = "/app/usage/metrics",
    tag = "Usage",
    responses(
        SignedIn,
        (status = 200, description = "Every metric with its name, description and unit", body = MetricList),
    )
)]
pub(crate) async fn metrics(AuthUser(_): AuthUser) -> Reply<MetricList> {
    Reply::ok(metric_list())
}

/// Every counted metric, described.
pub(crate) fn metric_list() -> MetricList {
    MetricList {
        metrics: METRICS
            .iter()
            .map(|m| MetricInfo {
                key: m.key,
                name: m.name,
                description: m.description,
                unit: m.unit,
            })
            .collect(),
    }
}
