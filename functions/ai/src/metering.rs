//! AI usage: the monthly token quota checked before a provider is called, and the
//! `ai_requests` / `ai_tokens` counters (per day, per month, and per month by model)
//! charged to the model that served the call.

use aloft_auth::Principal;
use aloft_http::ApiError;
use aloft_store::UsageMeter;
use time::{Date, Month, OffsetDateTime, Time};

use crate::{config::AiSettings, providers::Usage};

pub const TOKENS: &str = "ai_tokens";
pub const REQUESTS: &str = "ai_requests";

/// Refuses the call when the caller's plan has used its monthly tokens (one read).
pub async fn check_quota(
    usage: &UsageMeter,
    settings: &AiSettings,
    principal: &Principal,
) -> Result<(), ApiError> {
    let limit = settings.monthly_tokens(principal.plan);
    if limit == 0 {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let day = today();
    let month = day.get(..7).unwrap_or(&day);
    let used = usage
        .count(&principal.user_id, TOKENS, month)
        .await
        .map_err(ApiError::from)?;
    let used = u64::try_from(used).unwrap_or(0);
    if used < limit {
        return Ok(());
    }
    Err(ApiError::QuotaExceeded {
        metric: TOKENS,
        limit,
        used,
        resets_at: aloft_http::timestamp::format(next_month(now)),
    })
}

/// Charges one call and its tokens to `model`. A failure is logged, not sent: the
/// client already has its answer.
pub async fn record(usage: &UsageMeter, user_id: &str, model: &str, tokens: &Usage) {
    let day = today();
    let day = day.as_str();
    let total = i64::try_from(tokens.total_tokens).unwrap_or(i64::MAX);
    let (requests, charged) = tokio::join!(
        usage.add_with_month(user_id, REQUESTS, day, 1, Some(model)),
        usage.add_with_month(user_id, TOKENS, day, total, Some(model)),
    );
    if let Err(e) = requests.and(charged) {
        tracing::error!(error.cause = %e, ai.model = model, "AI usage could not be recorded: {e}");
    }
}

/// `YYYY-MM-DD`, UTC: the period of the day's counters; its first 7 are the month.
fn today() -> String {
    let now = aloft_http::timestamp::now();
    now.get(..10).unwrap_or(&now).to_owned()
}

/// Midnight UTC on the first day of the month after `at`.
fn next_month(at: OffsetDateTime) -> OffsetDateTime {
    let (year, month) = match at.month() {
        Month::December => (at.year() + 1, Month::January),
        other => (at.year(), other.next()),
    };
    Date::from_calendar_date(year, month, 1)
        .map(|date| date.with_time(Time::MIDNIGHT).assume_utc())
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_quota_resets_on_the_first_of_next_month() {
        assert_eq!(
            next_month(datetime!(2026-12-31 23:59 UTC)),
            datetime!(2027-01-01 0:00 UTC)
        );
        assert_eq!(
            next_month(datetime!(2026-02-10 12:00 UTC)),
            datetime!(2026-03-01 0:00 UTC)
        );
    }
}
