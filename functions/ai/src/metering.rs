//! AI usage: the monthly token quota, held before a provider is called and settled after,
//! and the `ai_requests` / `ai_tokens` counters (per day, per month, and per month by
//! model) charged to the model that served the call.
//!
//! On a plan with a quota, a call first holds the most it can cost (its prompt at 4
//! characters a token, plus all of its `max_tokens`) on the month item the quota is
//! counted on: the caller's own, or in an organization the organization's, pooled. A
//! hold that does not fit beside what is used and held is 429 `QUOTA_EXCEEDED`, so calls
//! in flight together never pass the quota. When the call ends, or its stream does, the
//! hold is settled: released, and what the call is charged counted (nothing when no
//! provider served it). A hold whose Lambda was killed first expires within 12 minutes
//! (`aloft_store::usage::HOLD_WINDOW_SECS`, twice).
//!
//! DynamoDB writes per served call: with a quota, the hold, its settle and
//! `ai_requests` (3; a hold or settle at the turn of a 6-minute window takes one more);
//! without one, `ai_tokens` and `ai_requests` (2), as before.

use std::time::Duration;

use aloft_auth::Principal;
use aloft_core::ApiError;
use aloft_store::{
    UsageMeter, UsageOwner,
    usage::{AI_REQUESTS, AI_TOKENS, Reservation, Reserved},
};
use time::{OffsetDateTime, Time};

use crate::{
    config::AiSettings,
    providers::{Prompt, Usage, tokens_in},
};

/// A settle that has not answered by then is given up (and logged): the client is not
/// held up for it, and its hold expires by itself.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// A call's claim on its owner's monthly tokens, from before a provider is called until
/// the call is settled.
#[derive(Debug, Clone)]
pub struct Hold {
    owner: UsageOwner,
    /// `None` on a plan without a quota: nothing is held.
    reservation: Option<Reservation>,
}

/// Holds the most `prompt` can cost against the caller's monthly tokens (one
/// conditional write), or refuses the call when that, beside what is used and what
/// calls in flight hold, is over them.
pub async fn reserve(
    usage: &UsageMeter,
    settings: &AiSettings,
    principal: &Principal,
    prompt: &Prompt,
) -> Result<Hold, ApiError> {
    let owner = principal.usage_owner();
    let limit = settings.monthly_tokens(principal.plan);
    if limit == 0 {
        return Ok(Hold {
            owner,
            reservation: None,
        });
    }
    let now = OffsetDateTime::now_utc();
    let epoch_secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let reserved = usage
        .reserve(&owner, AI_TOKENS, most_tokens(prompt), limit, epoch_secs)
        .await
        .map_err(ApiError::from)?;
    match reserved {
        Reserved::Held(reservation) => Ok(Hold {
            owner,
            reservation: Some(reservation),
        }),
        Reserved::Refused { used } => Err(ApiError::QuotaExceeded {
            metric: AI_TOKENS.key,
            limit,
            used: u64::try_from(used).unwrap_or(0),
            resets_at: Some(aloft_core::timestamp::format(next_month(now))),
        }),
    }
}

/// The most a call can be charged: its prompt, estimated, and all of its `max_tokens`
/// (a fallback model is only ever sent fewer).
fn most_tokens(prompt: &Prompt) -> u64 {
    tokens_in(prompt.chars()).saturating_add(u64::from(prompt.max_tokens))
}

/// Charges a served call and its tokens to `model`, releasing its hold, and counts them
/// in the `AiTokens` metric. A failure is logged, not sent: the client already has its
/// answer.
pub async fn settle(usage: &UsageMeter, hold: &Hold, model: &str, tokens: &Usage) {
    aloft_http::metrics::count("AiTokens", ("Model", model), tokens.total_tokens);
    let total = i64::try_from(tokens.total_tokens).unwrap_or(i64::MAX);
    tokio::join!(
        usage.record_to(&hold.owner, AI_REQUESTS, 1, Some(model)),
        charge(usage, hold, total, Some(model)),
    );
}

/// `result`, once `hold` is released if it is an error: a call no provider served is
/// charged nothing, as before holds.
pub async fn released_on_error<T>(
    usage: &UsageMeter,
    hold: &Hold,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if result.is_err() && hold.reservation.is_some() {
        charge(usage, hold, 0, None).await;
    }
    result
}

/// Counts `tokens` in `ai_tokens`, settling the hold if there is one.
async fn charge(usage: &UsageMeter, hold: &Hold, tokens: i64, model: Option<&str>) {
    let charged = tokio::time::timeout(SETTLE_TIMEOUT, async {
        match &hold.reservation {
            Some(reservation) => usage.settle(reservation, tokens, model).await,
            None => {
                let today = OffsetDateTime::now_utc().date();
                usage
                    .charge(&hold.owner, AI_TOKENS, today, tokens, model)
                    .await
            }
        }
    })
    .await;
    match charged {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error.cause = %e, usage.metric = AI_TOKENS.key, "AI tokens not charged");
        }
        Err(_) => tracing::warn!(
            usage.metric = AI_TOKENS.key,
            "AI tokens not charged: timed out"
        ),
    }
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
    use crate::providers::{Message, Role};
    use aloft_store::Table;
    use time::macros::datetime;

    #[tokio::test]
    async fn a_charged_call_counts_its_tokens_in_ai_tokens_by_model() {
        let env = aloft_testkit::TestEnv::new().await;
        let usage = UsageMeter::new(Table::new(env.clients.dynamodb.clone(), env.table()));
        let captured = aloft_http::metrics::Capture::start();
        let unlimited = Hold {
            owner: UsageOwner::user("u1"),
            reservation: None,
        };

        settle(&usage, &unlimited, "gpt-4o", &Usage::new(9, 33)).await;

        let documents = captured.documents();
        assert_eq!(documents.len(), 1, "{documents:?}");
        assert_eq!(documents[0]["Model"], "gpt-4o");
        assert_eq!(documents[0]["AiTokens"], 42.0);
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Model"]])
        );
        let today = OffsetDateTime::now_utc().date();
        let month = usage.month("u1", AI_TOKENS, today).await.unwrap();
        assert_eq!(month.by["gpt-4o"], 42);
    }

    #[test]
    fn a_call_holds_its_estimated_prompt_and_all_its_max_tokens() {
        let prompt = Prompt {
            messages: vec![Message {
                role: Role::User,
                content: "x".repeat(10),
            }],
            temperature: 0.7,
            max_tokens: 100,
        };
        assert_eq!(most_tokens(&prompt), 3 + 100);
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
