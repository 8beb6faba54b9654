//! The usage reports, computed from month items: periods, growth, daily series, trend.

use std::collections::BTreeMap;

use aloft_core::ApiError;
use aloft_store::{
    Metric,
    usage::{API_REQUESTS, MonthUsage, month_key, next_month},
};
use serde::{Deserialize, Serialize};
use time::{Date, Duration};
use utoipa::{IntoParams, ToSchema};

/// `trends` calls a change of more than this many percent increasing or decreasing.
pub const TREND_THRESHOLD_PERCENT: f64 = 10.0;
/// Most days a daily series or a trend window may cover.
pub const MAX_DAYS: u32 = 90;
const DEFAULT_DAYS: u32 = 30;

/// `?metric=&days=`; which of them a route needs, it checks.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricQuery {
    /// A metric key from `GET /app/usage/metrics`. Without it a summary covers every
    /// metric, and trends, daily and breakdown report `api_requests`.
    #[param(
        pattern = "^(api_requests|ai_tokens|ai_requests|storage_bytes|file_uploads|file_downloads|websocket_messages|background_jobs|email_sent)$"
    )]
    pub metric: Option<String>,
    /// Days to cover, 1–90 (default 30).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

impl MetricQuery {
    /// The named metric, `api_requests` when none is named: 422 when it is unknown.
    pub fn metric(&self) -> Result<Metric, ApiError> {
        self.metric
            .as_deref()
            .map_or(Ok(API_REQUESTS), parse_metric)
    }

    /// `days`, 1–90, 30 when absent.
    pub fn days(&self) -> Result<u32, ApiError> {
        match self.days.unwrap_or(DEFAULT_DAYS) {
            days @ 1..=MAX_DAYS => Ok(days),
            _ => Err(ApiError::validation(
                "days",
                format!("days must be between 1 and {MAX_DAYS}"),
            )),
        }
    }
}

pub fn parse_metric(key: &str) -> Result<Metric, ApiError> {
    Metric::parse(key).ok_or_else(|| {
        ApiError::validation(
            "metric",
            format!("unknown metric '{key}'; see /app/usage/metrics"),
        )
    })
}

/// A calendar month (UTC), the billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Period {
    /// `YYYY-MM-01T00:00:00Z`.
    pub start: String,
    /// The month's last second, `YYYY-MM-DDT23:59:59Z`.
    pub end: String,
}

impl Period {
    pub fn of(day: Date) -> Self {
        let first = day.replace_day(1).unwrap_or(day);
        let last = next_month(day) - Duration::days(1);
        Self {
            start: format!("{first}T00:00:00Z"),
            end: format!("{last}T23:59:59Z"),
        }
    }
}

/// A metric's current and previous period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricSummary {
    pub current_period: i64,
    pub previous_period: i64,
    /// Percent change from the previous period, 2 decimals.
    pub growth_rate: f64,
    pub daily_average: f64,
}

/// This month (so far) against the whole previous month; the daily average is over the
/// days of this month so far, today included.
pub fn summarize(current: i64, previous: i64, today: Date) -> MetricSummary {
    MetricSummary {
        current_period: current,
        previous_period: previous,
        growth_rate: growth_rate(current, previous),
        daily_average: average(current, u32::from(today.day())),
    }
}

/// `(current - previous) / previous` in percent, 2 decimals; from nothing to something
/// is 100 %, nothing to nothing 0 %.
pub fn growth_rate(current: i64, previous: i64) -> f64 {
    if previous == 0 {
        return if current > 0 { 100.0 } else { 0.0 };
    }
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    round2((current - previous) as f64 / previous.unsigned_abs() as f64 * 100.0)
}

pub fn average(total: i64, days: u32) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    round2(total as f64 / f64::from(days.max(1)))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `increasing`, `decreasing` or `stable`, by [`TREND_THRESHOLD_PERCENT`].
pub fn trend(growth_rate: f64) -> &'static str {
    if growth_rate > TREND_THRESHOLD_PERCENT {
        "increasing"
    } else if growth_rate < -TREND_THRESHOLD_PERCENT {
        "decreasing"
    } else {
        "stable"
    }
}

/// The first days of the months from `first`'s to `last`'s.
pub fn months_between(first: Date, last: Date) -> Vec<Date> {
    let mut months = Vec::new();
    let mut month = first.replace_day(1).unwrap_or(first);
    while month <= last {
        months.push(month);
        month = next_month(month);
    }
    months
}

/// The `days` days ending with `last`, oldest first, each with its count of `metric`
/// from `months` (as [`aloft_store::UsageMeter::months`] returns them).
pub fn daily_series(
    months: &BTreeMap<(&'static str, String), MonthUsage>,
    metric: Metric,
    last: Date,
    days: u32,
) -> Vec<(Date, i64)> {
    (0..days)
        .rev()
        .map(|back| {
            let day = last - Duration::days(i64::from(back));
            let value = months
                .get(&(metric.key, month_key(day)))
                .map_or(0, |m| m.day(day.day()));
            (day, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// The `metric` parameters' pattern is written out in the attributes; it must name
    /// every metric and nothing else.
    #[test]
    fn the_documented_metric_keys_are_the_metrics() {
        let keys: Vec<&str> = aloft_store::usage::METRICS.iter().map(|m| m.key).collect();
        let expected = format!("^({})$", keys.join("|"));
        let document = serde_json::to_value(crate::openapi()).unwrap();
        let patterns: Vec<&serde_json::Value> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|item| item["get"]["parameters"].as_array())
            .flatten()
            .filter(|p| p["name"] == "metric")
            .map(|p| &p["schema"]["pattern"])
            .collect();
        assert!(!patterns.is_empty());
        for pattern in patterns {
            assert_eq!(pattern, &serde_json::Value::from(expected.clone()));
        }
    }

    #[test]
    fn growth_and_averages_match_the_reference_examples() {
        assert_eq!(growth_rate(1250, 980), 27.55);
        assert_eq!(growth_rate(45000, 32000), 40.63);
        assert_eq!(growth_rate(104_857_600, 52_428_800), 100.0);
        assert_eq!(growth_rate(5, 0), 100.0);
        assert_eq!(growth_rate(0, 0), 0.0);
        assert_eq!(growth_rate(50, 100), -50.0);
        assert_eq!(average(1250, 30), 41.67);
        assert_eq!(average(344, 7), 49.14);
        assert_eq!(
            summarize(1250, 980, date!(2026 - 01 - 30)).daily_average,
            41.67
        );
    }

    #[test]
    fn trend_needs_more_than_the_threshold() {
        assert_eq!(trend(40.63), "increasing");
        assert_eq!(trend(10.0), "stable");
        assert_eq!(trend(-10.0), "stable");
        assert_eq!(trend(-10.01), "decreasing");
    }

    #[test]
    fn periods_are_calendar_months() {
        let period = Period::of(date!(2026 - 02 - 14));
        assert_eq!(period.start, "2026-02-01T00:00:00Z");
        assert_eq!(period.end, "2026-02-28T23:59:59Z");
        assert_eq!(
            Period::of(date!(2026 - 12 - 31)).end,
            "2026-12-31T23:59:59Z"
        );
    }

    #[test]
    fn a_series_spans_months_oldest_first_with_zeros() {
        let metric = aloft_store::usage::API_REQUESTS;
        let mut december = MonthUsage::default();
        december.days.insert(31, 4);
        let mut january = MonthUsage::default();
        january.days.insert(2, 7);
        let months = BTreeMap::from([
            (("api_requests", "2026-12".to_owned()), december),
            (("api_requests", "2027-01".to_owned()), january),
        ]);
        let series = daily_series(&months, metric, date!(2027 - 01 - 02), 3);
        assert_eq!(
            series,
            [
                (date!(2026 - 12 - 31), 4),
                (date!(2027 - 01 - 01), 0),
                (date!(2027 - 01 - 02), 7)
            ]
        );
        assert_eq!(
            months_between(date!(2026 - 11 - 20), date!(2027 - 01 - 02)),
            [
                date!(2026 - 11 - 01),
                date!(2026 - 12 - 01),
                date!(2027 - 01 - 01)
            ]
        );
    }

    #[test]
    fn days_and_metric_are_checked() {
        let query = |metric: Option<&str>, days| MetricQuery {
            metric: metric.map(str::to_owned),
            days,
        };
        assert_eq!(query(None, None).days().unwrap(), 30);
        assert!(query(None, Some(91)).days().is_err());
        assert!(query(None, Some(0)).days().is_err());
        assert_eq!(query(None, None).metric().unwrap().key, "api_requests");
        assert!(query(Some("bogus"), None).metric().is_err());
        assert_eq!(
            query(Some("ai_tokens"), None).metric().unwrap().key,
            "ai_tokens"
        );
    }
}
