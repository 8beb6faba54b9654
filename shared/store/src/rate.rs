//! Fixed-window rate-limit counters per client IP: one atomic, conditional update per
//! request, so concurrent requests can never overshoot a limit. (A signed-in user's
//! requests are counted in their usage item instead: `UsageMeter::count_request`.)

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue},
};

use crate::{Key, StoreError, Table, table::n};

/// The outcome of one request against a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub allowed: bool,
    /// The user is blocked (deactivated): refused whatever the count.
    pub blocked: bool,
    /// The credential's organization membership is no longer what it claims (the
    /// member was removed, their role changed, or the organization is gone).
    pub membership_changed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window ends.
    pub reset_at: u64,
    /// The window's length: 60 for a class's minute, 86,400 for a plan's day.
    pub period_secs: u64,
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    table: Table,
}

impl RateLimiter {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Counts one request of `subject` in `class` against `limit` per `window_secs`.
    /// The increment only happens while the count is below the limit, so exactly `limit`
    /// requests get through, however many arrive at once.
    pub async fn hit(
        &self,
        subject: &str,
        class: &str,
        limit: u32,
        window_secs: u64,
        now: u64,
    ) -> Result<Window, StoreError> {
        let start = now - now % window_secs;
        let reset_at = start + window_secs;
        let updated = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::rate_window(subject, class, start).attributes()))
            .update_expression("SET expires_at = if_not_exists(expires_at, :expires) ADD hits :one")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            // Kept a minute past the window, then DynamoDB's TTL removes it.
            .expression_attribute_values(":expires", n(reset_at + 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let window = |allowed, remaining| Window {
            allowed,
            membership_changed: false,
            blocked: false,
            limit,
            remaining,
            reset_at,
            period_secs: window_secs,
        };
        let updated = match updated {
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                    return Ok(window(false, 0));
                }
                _ => Err(StoreError::from_sdk(e)),
            },
            Ok(output) => Ok(output),
        };
        match updated {
            Ok(output) => {
                let hits = output
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("hits"))
                    .and_then(|v| match v {
                        AttributeValue::N(n) => n.parse::<u32>().ok(),
                        _ => None,
                    })
                    .unwrap_or(limit);
                Ok(window(true, limit.saturating_sub(hits)))
            }
            Err(e) => Err(e),
        }
    }
}

impl RateLimiter {
    /// The current window of `subject` in `class`, without counting a request.
    pub async fn peek(
        &self,
        subject: &str,
        class: &str,
        limit: u32,
        window_secs: u64,
        now: u64,
    ) -> Result<Window, StoreError> {
        #[derive(serde::Deserialize)]
        struct Hits {
            hits: u32,
        }
        let start = now - now % window_secs;
        let hits: Option<Hits> = self
            .table
            .get(&Key::rate_window(subject, class, start))
            .await?;
        let remaining = limit.saturating_sub(hits.map_or(0, |h| h.hits));
        Ok(Window {
            membership_changed: false,
            allowed: remaining > 0,
            blocked: false,
            limit,
            remaining,
            reset_at: start + window_secs,
            period_secs: window_secs,
        })
    }
}
