//! AI usage: the monthly token quota checked before a provider is called, and the
//! `ai_requests` / `ai_tokens` counters (per day, per month, and per month by model)
//! charged to the model that served the call.

use aloft_auth::Principal;
use aloft_core::ApiError;
use aloft_store::{
    UsageMeter, UsageOwner,
    usage::{AI_REQUESTS, AI_TOKENS},
};
use time::{OffsetDateTime, Time};

use crate::{config::AiSettings, providers::Usage};

/// Refuses the call when the caller's plan has used its monthly tokens (one read): the
/// caller's own, or in an organization the organization's, pooled.
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
    let month = usage
        .month(&principal.usage_owner().id, AI_TOKENS, now.date())
        .await
        .map_err(ApiError::from)?;
    let used = u64::try_from(month.total).unwrap_or(0);
    if used < limit {
        return Ok(());
    }
    Err(ApiError::QuotaExceeded {
        metric: AI_TOKENS.key,
        limit,
        used,
        resets_at: Some(aloft_core::timestamp::format(next_month(now))),
    })
}

/// Charges one call and its tokens to `model`, and counts them in the `AiTokens`
/// metric. A failure is logged, not sent: the client already has its answer.
pub async fn record(usage: &UsageMeter, owner: &UsageOwner, model: &str, tokens: &Usage) {
    aloft_http::metrics::count("AiTokens", ("Model", model), tokens.total_tokens);
    let total = i64::try_from(tokens.total_tokens).unwrap_or(i64::MAX);
    tokio::join!(
        usage.record_to(owner, AI_REQUESTS, 1, Some(model)),
        usage.record_to(owner, AI_TOKENS, total, Some(model)),
    );
}

/// Midnight UTC on the first day of the month after `at`.
fn next_month(at: OffsetDateTime) -> OffsetDateTime {
    aloft_store::usage::next_month(at.date())
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_store::Table;
    use time::macros::datetime;

    #[tokio::test]
    async fn a_charged_call_counts_its_tokens_in_ai_tokens_by_model() {
        let env = aloft_testkit::TestEnv::new().await;
        let usage = UsageMeter::new(Table::new(env.clients.dynamodb.clone(), env.table()));
        let captured = aloft_http::metrics::Capture::start();

        record(
            &usage,
            &UsageOwner::user("u1"),
            "gpt-4o",
            &Usage::new(9, 33),
        )
        .await;

        let documents = captured.documents();
        assert_eq!(documents.len(), 1, "{documents:?}");
        assert_eq!(documents[0]["Model"], "gpt-4o");
        assert_eq!(documents[0]["AiTokens"], 42.0);
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Model"]])
        );
    }

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
