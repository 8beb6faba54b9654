//! The admin dashboard's counters, kept as things happen so the stats route never scans:
//! running totals in one item, and hourly buckets for "new in the last 7/30 days" and
//! "in the last 24 hours". Each change is one atomic `ADD` per item, so concurrent
//! changes never lose a count. The stores that own users, deliveries and jobs count
//! their own state changes, from the old state their conditional updates return.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::{
    JobStatus, Key, StoreError, Table, UserRecord,
    table::{Item, n, s},
};

/// Hourly buckets are kept a little longer than the longest window read (30 days).
const BUCKET_RETENTION_SECS: i64 = 31 * 24 * 3600;

/// Changes to the counters: running totals, and counts in the current hour's bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    totals: BTreeMap<String, i64>,
    hourly: BTreeMap<String, i64>,
}

impl Tally {
    fn total(&mut self, counter: impl Into<String>, by: i64) {
        *self.totals.entry(counter.into()).or_default() += by;
    }

    fn hourly(&mut self, counter: &str, by: i64) {
        *self.hourly.entry(counter.to_owned()).or_default() += by;
    }

    /// A user registered (`before` is `None`) or changed from `before` to `after`: what
    /// `before` counted towards is taken back, what `after` counts towards is added.
    pub fn user(before: Option<&UserRecord>, after: &UserRecord) -> Self {
        let mut tally = Tally::default();
        let count = |tally: &mut Tally, user: &UserRecord, sign: i64| {
            tally.total("users_total", sign);
            tally.total("users_active", sign * i64::from(user.is_active));
            tally.total(format!("plan_{}", user.subscription_plan), sign);
            let paying = user.has_active_subscription();
            tally.total("subscriptions_active", sign * i64::from(paying));
        };
        match before {
            Some(before) => count(&mut tally, before, -1),
            None => tally.hourly("users_new", 1),
        }
        count(&mut tally, after, 1);
        tally.totals.retain(|_, by| *by != 0);
        tally
    }

    /// A job moved from `before` to `after` (`None`: it did not exist / was removed).
    pub fn job(before: Option<JobStatus>, after: Option<JobStatus>) -> Self {
        let mut tally = Tally::default();
        if before == after {
            return tally;
        }
        let queued = |status| i64::from(status == Some(JobStatus::Queued));
        tally.total("jobs_queued", queued(after) - queued(before));
        match after {
            Some(JobStatus::Succeeded) => tally.hourly("jobs_completed", 1),
            Some(JobStatus::Dead) => tally.hourly("jobs_failed", 1),
            _ => {}
        }
        tally.totals.retain(|_, by| *by != 0);
        tally
    }

    /// An outgoing webhook delivery moved from status `before` (`None`: created) to
    /// `after`. Pending: not yet delivered (`pending`, or `failed` and to be retried);
    /// failed: given up on (`dead`).
    pub fn delivery(before: Option<&str>, after: &str) -> Self {
        let mut tally = Tally::default();
        let state = |status: &str| match status {
            "pending" | "failed" => Some("webhooks_pending"),
            "dead" => Some("webhooks_failed"),
            _ => None,
        };
        match before {
            Some(before) => {
                if let Some(counter) = state(before) {
                    tally.total(counter, -1);
                }
            }
            None => tally.total("webhooks_total", 1),
        }
        if let Some(counter) = state(after) {
            tally.total(counter, 1);
        }
        tally.totals.retain(|_, by| *by != 0);
        tally
    }

    fn is_empty(&self) -> bool {
        self.totals.is_empty() && self.hourly.is_empty()
    }
}

/// The counters as read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub totals: BTreeMap<String, i64>,
    pub last_24_hours: BTreeMap<String, i64>,
    pub last_7_days: BTreeMap<String, i64>,
    pub last_30_days: BTreeMap<String, i64>,
}

impl Counters {
    pub fn total(&self, counter: &str) -> i64 {
        self.totals.get(counter).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct Stats {
    table: Table,
}

/// `YYYY-MM-DDTHH` of `at`, UTC: the hourly bucket's sort key, in time order.
fn hour_key(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

impl Stats {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Applies `tally` now. The change it counts has happened already: a failure is
    /// logged, not returned.
    pub async fn count(&self, tally: Tally) {
        if let Err(e) = self.apply(&tally, OffsetDateTime::now_utc()).await {
            tracing::error!(error.cause = %e, ?tally, "dashboard counters not updated");
        }
    }

    /// Applies `tally` at `at`: one atomic update of the totals, one of `at`'s hour.
    pub async fn apply(&self, tally: &Tally, at: OffsetDateTime) -> Result<(), StoreError> {
        if tally.is_empty() {
            return Ok(());
        }
        let expires = (at.unix_timestamp() + BUCKET_RETENTION_SECS).to_string();
        let totals = self.add(Key::stats_totals(), &tally.totals, None);
        let hourly = self.add(Key::stats_hour(&hour_key(at)), &tally.hourly, Some(expires));
        let (totals, hourly) = tokio::join!(totals, hourly);
        totals.and(hourly)
    }

    async fn add(
        &self,
        key: Key,
        counters: &BTreeMap<String, i64>,
        expires_at: Option<String>,
    ) -> Result<(), StoreError> {
        if counters.is_empty() {
            return Ok(());
        }
        let mut request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key.attributes()));
        let mut adds = Vec::new();
        for (i, (counter, by)) in counters.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            request = request
                .expression_attribute_names(format!("#c{i}"), counter)
                .expression_attribute_values(format!(":c{i}"), n(by));
        }
        let mut expression = format!("ADD {}", adds.join(", "));
        if let Some(expires_at) = expires_at {
            expression.push_str(" SET expires_at = if_not_exists(expires_at, :expires)");
            request = request.expression_attribute_values(":expires", n(expires_at));
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The totals, and the hourly counts summed over the last 24 hours, 7 and 30 days
    /// (the current hour included): one read of the totals, one query of 720 buckets.
    pub async fn read(&self, now: OffsetDateTime) -> Result<Counters, StoreError> {
        let hour = time::Duration::hours(1);
        let oldest = hour_key(now - time::Duration::days(30) + hour);
        let totals = self
            .table
            .client()
            .get_item()
            .table_name(self.table.name())
            .set_key(Some(Key::stats_totals().attributes()))
            .send();
        let buckets = self.table.query_items(|query| {
            query
                .key_condition_expression("pk = :partition AND sk >= :oldest")
                .expression_attribute_values(":partition", s(Key::STATS_HOURS))
                .expression_attribute_values(":oldest", s(&oldest))
        });
        let (totals, buckets) = tokio::join!(totals, buckets);
        let totals = totals.map_err(StoreError::from_sdk)?.item;
        let mut counters = Counters {
            totals: numbers(totals.unwrap_or_default()),
            ..Counters::default()
        };
        let day_start = hour_key(now - time::Duration::days(1) + hour);
        let week_start = hour_key(now - time::Duration::days(7) + hour);
        for bucket in buckets? {
            let Some(AttributeValue::S(at)) = bucket.get("sk").cloned() else {
                continue;
            };
            for (counter, value) in numbers(bucket) {
                let add = |sums: &mut BTreeMap<String, i64>| {
                    *sums.entry(counter.clone()).or_default() += value;
                };
                add(&mut counters.last_30_days);
                if at >= week_start {
                    add(&mut counters.last_7_days);
                }
                if at >= day_start {
                    add(&mut counters.last_24_hours);
                }
            }
        }
        Ok(counters)
    }
}

/// The number attributes of an item that are counters (not its keys or expiry).
fn numbers(item: Item) -> BTreeMap<String, i64> {
    item.into_iter()
        .filter(|(name, _)| name != "expires_at")
        .filter_map(|(name, value)| match value {
            AttributeValue::N(raw) => raw.parse().ok().map(|value| (name, value)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(plan: &str, status: Option<&str>, active: bool) -> UserRecord {
        UserRecord {
            id: "u".into(),
            email: "u@example.com".into(),
            full_name: None,
            avatar_url: None,
            role: "user".into(),
            is_active: active,
            tenant_id: "t".into(),
            subscription_plan: plan.into(),
            subscription_status: status.map(str::to_owned),
            subscription_period_end: None,
            cancel_at_period_end: false,
            subscription_id: None,
            stripe_customer_id: None,
            created_at: String::new(),
            updated_at: String::new(),
            password_hash: None,
            email_verified: false,
        }
    }

    fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn a_registration_counts_the_user_their_plan_and_the_hour() {
        let tally = Tally::user(None, &user("free", None, true));
        assert_eq!(
            tally.totals,
            map(&[("plan_free", 1), ("users_active", 1), ("users_total", 1)])
        );
        assert_eq!(tally.hourly, map(&[("users_new", 1)]));
    }

    #[test]
    fn a_change_moves_only_what_changed() {
        let upgraded = Tally::user(
            Some(&user("free", None, true)),
            &user("pro", Some("active"), true),
        );
        assert_eq!(
            upgraded.totals,
            map(&[
                ("plan_free", -1),
                ("plan_pro", 1),
                ("subscriptions_active", 1)
            ])
        );
        assert!(upgraded.hourly.is_empty());
        let deactivated = Tally::user(
            Some(&user("pro", Some("active"), true)),
            &user("pro", Some("active"), false),
        );
        assert_eq!(deactivated.totals, map(&[("users_active", -1)]));
        let renamed = Tally::user(Some(&user("free", None, true)), &user("free", None, true));
        assert!(renamed.is_empty());
    }

    #[test]
    fn jobs_count_while_queued_and_once_when_they_end() {
        let created = Tally::job(None, Some(JobStatus::Queued));
        assert_eq!(created.totals, map(&[("jobs_queued", 1)]));
        let started = Tally::job(Some(JobStatus::Queued), Some(JobStatus::Running));
        assert_eq!(started.totals, map(&[("jobs_queued", -1)]));
        let done = Tally::job(Some(JobStatus::Running), Some(JobStatus::Succeeded));
        assert_eq!(done.hourly, map(&[("jobs_completed", 1)]));
        let dead = Tally::job(Some(JobStatus::Running), Some(JobStatus::Dead));
        assert_eq!(dead.hourly, map(&[("jobs_failed", 1)]));
        assert!(Tally::job(Some(JobStatus::Dead), Some(JobStatus::Dead)).is_empty());
    }

    #[test]
    fn deliveries_are_pending_until_delivered_or_dead() {
        let created = Tally::delivery(None, "pending");
        assert_eq!(
            created.totals,
            map(&[("webhooks_pending", 1), ("webhooks_total", 1)])
        );
        assert!(Tally::delivery(Some("pending"), "failed").is_empty());
        let delivered = Tally::delivery(Some("failed"), "succeeded");
        assert_eq!(delivered.totals, map(&[("webhooks_pending", -1)]));
        let dead = Tally::delivery(Some("failed"), "dead");
        assert_eq!(
            dead.totals,
            map(&[("webhooks_failed", 1), ("webhooks_pending", -1)])
        );
    }

    #[test]
    fn hour_keys_sort_in_time_order() {
        let at = OffsetDateTime::from_unix_timestamp(1_764_565_200).unwrap();
        assert_eq!(hour_key(at), "2025-12-01T05");
        assert!(hour_key(at - time::Duration::hours(6)) < hour_key(at));
    }
}
