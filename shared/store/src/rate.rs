//! Fixed-window rate-limit counters: one atomic, conditional update per request, so
//! concurrent requests can never overshoot a limit. The same update refuses a subject
//! whose windows were blocked in advance ([`RateLimiter::block`]): that is how a
//! deactivated user's still-valid tokens stop working without another read per request.

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};

use crate::{Key, StoreError, Table, table::n};

/// The outcome of one request against a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub allowed: bool,
    /// The subject is blocked in this window: refused whatever the count.
    pub blocked: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window ends.
    pub reset_at: u64,
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
    /// The increment only happens while the count is below the limit and the window is
    /// not blocked, so exactly `limit` requests get through, however many arrive at once.
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
            .condition_expression(
                "attribute_not_exists(blocked) AND (attribute_not_exists(hits) OR hits < :limit)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            // Kept a minute past the window, then DynamoDB's TTL removes it.
            .expression_attribute_values(":expires", n(reset_at + 60))
            .return_values(ReturnValue::UpdatedNew)
            // A refusal says whether it was the count or a block.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let window = |allowed, remaining| Window {
            allowed,
            blocked: false,
            limit,
            remaining,
            reset_at,
        };
        let updated = match updated {
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    let blocked = refused.item().is_some_and(|i| i.contains_key("blocked"));
                    return Ok(Window {
                        blocked,
                        ..window(false, 0)
                    });
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
            allowed: remaining > 0,
            blocked: false,
            limit,
            remaining,
            reset_at: start + window_secs,
        })
    }
}

impl RateLimiter {
    /// Blocks `subject` in every window of `classes` from the one holding `now` to the one
    /// holding `now + horizon_secs`: each request in them is refused, whatever the count.
    /// Idempotent; the markers expire with their windows.
    pub async fn block(
        &self,
        subject: &str,
        classes: &[&str],
        window_secs: u64,
        now: u64,
        horizon_secs: u64,
    ) -> Result<(), StoreError> {
        let markers = windows(subject, classes, window_secs, now, horizon_secs)
            .map(|(key, start)| {
                let mut item = key.attributes();
                item.insert("blocked".into(), AttributeValue::Bool(true));
                item.insert("expires_at".into(), n(start + window_secs + 60));
                item
            })
            .collect();
        self.table.put_all(markers).await
    }

    /// Lifts a [`Self::block`] over the same span (the current window's count restarts).
    pub async fn unblock(
        &self,
        subject: &str,
        classes: &[&str],
        window_secs: u64,
        now: u64,
        horizon_secs: u64,
    ) -> Result<(), StoreError> {
        let keys = windows(subject, classes, window_secs, now, horizon_secs)
            .map(|(key, _)| key)
            .collect();
        self.table.delete_all(keys).await
    }
}

/// `subject`'s windows of `classes` over `[now, now + horizon_secs]`, with their starts.
fn windows<'a>(
    subject: &'a str,
    classes: &'a [&str],
    window_secs: u64,
    now: u64,
    horizon_secs: u64,
) -> impl Iterator<Item = (Key, u64)> + 'a {
    let first = now - now % window_secs;
    let count = horizon_secs.div_ceil(window_secs) + 1;
    classes.iter().flat_map(move |class| {
        (0..count).map(move |i| {
            let start = first + i * window_secs;
            (Key::rate_window(subject, class, start), start)
        })
    })
}
