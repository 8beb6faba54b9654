//! The admin dashboard's counters, kept as things happen so the stats route never scans:
//! running totals, and hourly buckets for "new in the last 7/30 days" and "in the last
//! 24 hours". A change's counts are writes of the change's own transaction
//! ([`Stats::writes`], atomic `ADD`s), so the change and its count happen together or not
//! at all, and concurrent changes never lose a count. The stores that own users,
//! deliveries and jobs count their own state changes, from the old state their write is
//! conditioned on.
//!
//! One totals item in every such transaction would make concurrent changes cancel each
//! other (`TransactionConflict`): each count goes to one of [`STATS_SHARDS`] shards (a
//! process takes them in turn, from one picked at random) of the totals (`STATS` /
//! `TOTALS#<NN>`) and of its hour (`STATS#HOURLY` / `<YYYY-MM-DDTHH>#<NN>`), and a read
//! sums the shards, with the unsharded items written before them (`TOTALS`,
//! `<YYYY-MM-DDTHH>`).

use std::{
    collections::BTreeMap,
    hash::{BuildHasher, RandomState},
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
};

use aws_sdk_dynamodb::{
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, TransactWriteItem, Update},
};
use time::OffsetDateTime;

use crate::{
    JobStatus, Key, StoreError, Table, UserRecord,
    table::{Item, n, s},
};

/// How many items the totals, and each hour's bucket, are spread over.
pub const STATS_SHARDS: u8 = 16;

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

    /// Without the counters that do not move.
    fn settled(mut self) -> Self {
        self.totals.retain(|_, by| *by != 0);
        self.hourly.retain(|_, by| *by != 0);
        self
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
        tally.settled()
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
        tally.settled()
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
        tally.settled()
    }

    /// This tally and `other` as one: what a transaction that makes both changes writes
    /// (two tallies' writes in one transaction could name one shard twice).
    pub fn merge(mut self, other: Tally) -> Self {
        for (counter, by) in other.totals {
            *self.totals.entry(counter).or_default() += by;
        }
        for (counter, by) in other.hourly {
            *self.hourly.entry(counter).or_default() += by;
        }
        self.settled()
    }

    fn is_empty(&self) -> bool {
        self.totals.is_empty() && self.hourly.is_empty()
    }
}

impl std::iter::Sum for Tally {
    fn sum<I: Iterator<Item = Tally>>(tallies: I) -> Self {
        tallies.fold(Tally::default(), Tally::merge)
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

/// The shard of the next count: the process takes the [`STATS_SHARDS`] shards in turn,
/// from one picked at random (`RandomState` is std's random hashing seed). Processes
/// spread their counts over the shards as random picks would, and the counts one
/// request takes one after another (several jobs staged for one transaction) name
/// different shards, where random picks would now and then name one twice: an item a
/// transaction must not name twice.
fn next_shard() -> u8 {
    static NEXT: LazyLock<AtomicU64> =
        LazyLock::new(|| AtomicU64::new(RandomState::new().hash_one(())));
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    u8::try_from(next % u64::from(STATS_SHARDS)).unwrap_or_default()
}

impl Stats {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// The writes that count `tally`, for the transaction of the change it counts: an
    /// `ADD` to one shard of the totals and one to the same shard of the current hour
    /// (which also sets the bucket's expiry), each only if it has counts to add; none for
    /// an empty tally. DynamoDB refuses a transaction that names an item twice: a change
    /// that counts twice merges its tallies first ([`Tally::merge`]). (Counts taken one
    /// after another take different shards, up to [`STATS_SHARDS`] of them, so
    /// transactions that carry several staged jobs' counts do not meet this.)
    pub fn writes(&self, tally: &Tally) -> Result<Vec<TransactWriteItem>, StoreError> {
        let at = OffsetDateTime::now_utc();
        counter_writes(self.table.name(), tally, at, next_shard())
    }

    /// The running total `counter`: its shards and the unsharded item summed (one
    /// Query of at most 17 small items). 0 when there is none, and never below 0: a
    /// list cannot be shorter than empty.
    pub async fn total(&self, counter: &str) -> Result<u64, StoreError> {
        let items = self
            .table
            .query_items(|query| {
                of_totals(query)
                    .projection_expression("#counter")
                    .expression_attribute_names("#counter", counter)
            })
            .await?;
        let sum: i64 = items
            .into_iter()
            .filter_map(|item| item.get(counter)?.as_n().ok()?.parse::<i64>().ok())
            .sum();
        Ok(u64::try_from(sum).unwrap_or(0))
    }

    /// The totals, and the hourly counts summed over the last 24 hours, 7 and 30 days
    /// (the current hour included): one query of the totals' shards, one of the buckets
    /// (up to 720 hours of up to 16 shards each).
    pub async fn read(&self, now: OffsetDateTime) -> Result<Counters, StoreError> {
        let windows = Windows::at(now);
        let totals = self.table.query_items(of_totals);
        let buckets = self.table.query_items(|query| {
            query
                .key_condition_expression("pk = :partition AND sk >= :oldest")
                .expression_attribute_values(":partition", s(Key::STATS_HOURS))
                .expression_attribute_values(":oldest", s(&windows.month))
        });
        let (totals, buckets) = tokio::join!(totals, buckets);
        let mut counters = Counters::default();
        for item in totals? {
            add_to(&mut counters.totals, &numbers(item));
        }
        for bucket in buckets? {
            windows.count(&mut counters, bucket);
        }
        Ok(counters)
    }
}

/// `query` of every item of the running totals: the shards and the unsharded item.
fn of_totals(query: QueryFluentBuilder) -> QueryFluentBuilder {
    query
        .key_condition_expression("pk = :partition AND begins_with(sk, :totals)")
        .expression_attribute_values(":partition", s(Key::STATS_TOTALS))
        .expression_attribute_values(":totals", s(Key::STATS_TOTALS_PREFIX))
}

/// [`Stats::writes`] at `at`, to `shard`, in the table named `table`.
fn counter_writes(
    table: &str,
    tally: &Tally,
    at: OffsetDateTime,
    shard: u8,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    if tally.is_empty() {
        return Ok(Vec::new());
    }
    let expires = at.unix_timestamp() + BUCKET_RETENTION_SECS;
    let hour = Key::stats_hour(&hour_key(at), shard);
    let totals = add_write(table, &Key::stats_totals(shard), &tally.totals, None)?;
    let hourly = add_write(table, &hour, &tally.hourly, Some(expires))?;
    Ok(totals.into_iter().chain(hourly).collect())
}

/// The write that adds each of `counters` to the item at `key` and, with `expires_at`,
/// sets its expiry if it has none yet; `None` when there is nothing to add.
fn add_write(
    table: &str,
    key: &Key,
    counters: &BTreeMap<String, i64>,
    expires_at: Option<i64>,
) -> Result<Option<TransactWriteItem>, StoreError> {
    if counters.is_empty() {
        return Ok(None);
    }
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key.attributes()));
    let mut adds = Vec::new();
    for (i, (counter, by)) in counters.iter().enumerate() {
        adds.push(format!("#c{i} :c{i}"));
        update = update
            .expression_attribute_names(format!("#c{i}"), counter)
            .expression_attribute_values(format!(":c{i}"), n(by));
    }
    let mut expression = format!("ADD {}", adds.join(", "));
    if let Some(expires_at) = expires_at {
        expression.push_str(" SET expires_at = if_not_exists(expires_at, :expires)");
        update = update.expression_attribute_values(":expires", n(expires_at));
    }
    let update = update
        .update_expression(expression)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(Some(TransactWriteItem::builder().update(update).build()))
}

/// Where the hourly windows of a read at one moment start: the hour key of the oldest
/// hour each sums (the current hour is the newest of each).
#[derive(Debug)]
struct Windows {
    day: String,
    week: String,
    month: String,
}

impl Windows {
    fn at(now: OffsetDateTime) -> Self {
        let start = |days| hour_key(now - time::Duration::days(days) + time::Duration::hours(1));
        Self {
            day: start(1),
            week: start(7),
            month: start(30),
        }
    }

    /// Adds `bucket`'s counts to each window it falls in. Its sort key begins with its
    /// hour key (then `#<NN>` when sharded), so it compares with a window's start as its
    /// hour does: the suffix sorts it after its own hour's key, never past the next
    /// hour's.
    fn count(&self, counters: &mut Counters, bucket: Item) {
        let Some(AttributeValue::S(at)) = bucket.get("sk").cloned() else {
            return;
        };
        let counts = numbers(bucket);
        let windows = [
            (&self.month, &mut counters.last_30_days),
            (&self.week, &mut counters.last_7_days),
            (&self.day, &mut counters.last_24_hours),
        ];
        for (start, sums) in windows {
            if at >= *start {
                add_to(sums, &counts);
            }
        }
    }
}

/// Adds each of `counts` to its sum in `sums`.
fn add_to(sums: &mut BTreeMap<String, i64>, counts: &BTreeMap<String, i64>) {
    for (counter, value) in counts {
        *sums.entry(counter.clone()).or_default() += value;
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
    use std::collections::BTreeSet;

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
    fn a_cancelled_job_leaves_the_queue_and_counts_nothing_else() {
        let cancelled = Tally::job(Some(JobStatus::Queued), Some(JobStatus::Cancelled));
        assert_eq!(cancelled.totals, map(&[("jobs_queued", -1)]));
        assert!(cancelled.hourly.is_empty(), "neither completed nor failed");
        assert!(Tally::job(Some(JobStatus::Cancelled), None).is_empty());
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
        assert_eq!(hour_key(five_am()), "2025-12-01T05");
        assert!(hour_key(five_am() - time::Duration::hours(6)) < hour_key(five_am()));
    }

    /// 2025-12-01T05:00:00Z.
    fn five_am() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_764_565_200).unwrap()
    }

    #[test]
    fn tallies_merge_into_one_that_moves_only_what_changed() {
        let created = Tally::job(None, Some(JobStatus::Queued));
        let started = Tally::job(Some(JobStatus::Queued), Some(JobStatus::Running));
        assert!(created.clone().merge(started).is_empty());
        let two: Tally = [created.clone(), created].into_iter().sum();
        assert_eq!(two.totals, map(&[("jobs_queued", 2)]));
    }

    /// The `(pk, sk)` of each write.
    fn keys(writes: &[TransactWriteItem]) -> Vec<(String, String)> {
        writes
            .iter()
            .filter_map(|write| write.update.as_ref())
            .map(|update| {
                let key = |name: &str| update.key[name].as_s().unwrap().clone();
                (key("pk"), key("sk"))
            })
            .collect()
    }

    #[test]
    fn a_tally_is_written_to_one_shard_of_the_totals_and_of_its_hour() {
        let tally = Tally::user(None, &user("free", None, true));
        let writes = counter_writes("app", &tally, five_am(), 7).unwrap();
        assert_eq!(
            keys(&writes),
            [
                ("STATS".to_owned(), "TOTALS#07".to_owned()),
                ("STATS#HOURLY".to_owned(), "2025-12-01T05#07".to_owned())
            ]
        );
        let expressions: Vec<&str> = writes
            .iter()
            .filter_map(|write| Some(write.update.as_ref()?.update_expression.as_str()))
            .collect();
        assert!(!expressions[0].contains("expires_at"), "{expressions:?}");
        assert!(
            expressions[1].contains("SET expires_at = if_not_exists(expires_at, :expires)"),
            "{expressions:?}"
        );
    }

    #[test]
    fn an_empty_tally_writes_nothing_and_one_without_hourly_counts_skips_the_hour() {
        assert!(
            counter_writes("app", &Tally::default(), five_am(), 0)
                .unwrap()
                .is_empty()
        );
        let started = Tally::job(Some(JobStatus::Queued), Some(JobStatus::Running));
        let writes = counter_writes("app", &started, five_am(), 0).unwrap();
        assert_eq!(
            keys(&writes),
            [("STATS".to_owned(), "TOTALS#00".to_owned())]
        );
    }

    /// The only test of this crate that takes shards: another, in parallel, could take
    /// some between these.
    #[test]
    fn counts_taken_one_after_another_take_each_of_the_sixteen_shards() {
        let picked: Vec<u8> = (0..STATS_SHARDS).map(|_| next_shard()).collect();
        let distinct: BTreeSet<u8> = picked.iter().copied().collect();
        assert_eq!(distinct, (0..STATS_SHARDS).collect(), "{picked:?}");
    }

    fn bucket(sort_key: &str, count: i64) -> Item {
        Item::from([
            ("pk".to_owned(), s(Key::STATS_HOURS)),
            ("sk".to_owned(), s(sort_key)),
            ("users_new".to_owned(), n(count)),
            ("expires_at".to_owned(), n(1_767_225_600)),
        ])
    }

    #[test]
    fn sharded_and_unsharded_buckets_fall_in_the_windows_of_their_hour() {
        let windows = Windows::at(five_am() + time::Duration::minutes(30));
        let buckets = [
            ("2025-12-01T05#07", 1),   // this hour: every window
            ("2025-11-30T06#15", 2),   // 23 hours ago: the day's oldest hour
            ("2025-11-30T06", 4),      // the same hour, unsharded (written before shards)
            ("2025-11-30T05#00", 8),   // 24 hours ago: the week's, not the day's
            ("2025-11-24T06#03", 16),  // the week's oldest hour
            ("2025-11-24T05#15", 32),  // the month's, not the week's
            ("2025-11-01T06#01", 64),  // the month's oldest hour
            ("2025-11-01T05#09", 128), // older than the month
        ];
        let mut counters = Counters::default();
        for (sort_key, count) in buckets {
            windows.count(&mut counters, bucket(sort_key, count));
        }
        assert_eq!(counters.last_24_hours, map(&[("users_new", 1 + 2 + 4)]));
        assert_eq!(counters.last_7_days, map(&[("users_new", 31)]));
        assert_eq!(counters.last_30_days, map(&[("users_new", 127)]));
    }
}
