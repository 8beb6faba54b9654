//! Usage metering: one item per user, metric and calendar month (UTC) holding the month's
//! total (`count`), its days (`d01`…`d31`) and its breakdown (`by#<dimension>`, e.g. the
//! AI model or the route group). Counting an event is one atomic `ADD` to that item, so
//! concurrent requests never lose a count and a metered request costs one write.
//!
//! The month items of each metric form a ranking: a user's carry `rank_pk`
//! (`RANK#<yyyy-mm>#<metric>#<shard>`, see [`ranking`]), and the sparse `ranking` index
//! (`rank_pk`, `count`) lists a month's users by their total, so "top users" reads only
//! the top of each shard. (For `api_requests` that total trails by the requests of the
//! current minute: see [`UsageMeter::count_request`].)

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use time::{Date, Month, OffsetDateTime};

use crate::{Key, StoreError, Table, table::n, table::s};

mod ranking;
mod requests;
mod reservations;
use ranking::ranking_key;
pub use ranking::{RANKING_SHARDS, Ranked, Ranking};
pub use requests::{ClaimedMembership, MEMBERSHIP_REMOVED, RequestLimit};
pub use reservations::{HOLD_WINDOW_SECS, Reservation, Reserved};

/// A counted metric and how the usage routes describe it. Adding one is one line in
/// [`METRICS`] plus the call that counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    /// What its breakdown splits it by.
    pub breakdown: Breakdown,
}

/// The dimension of a metric's breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// The AI model that served the call.
    Model,
    /// The first path segment after `/app/` (`projects`, `files`, …), or `admin`.
    RouteGroup,
    /// The day of the month.
    Day,
}

const fn metric(
    key: &'static str,
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    breakdown: Breakdown,
) -> Metric {
    Metric {
        key,
        name,
        description,
        unit,
        breakdown,
    }
}

use Breakdown::{Day, Model, RouteGroup};
pub const API_REQUESTS: Metric = metric(
    "api_requests",
    "API Requests",
    "Total API requests made",
    "requests",
    RouteGroup,
);
pub const AI_TOKENS: Metric = metric(
    "ai_tokens",
    "AI Tokens",
    "AI/LLM tokens consumed",
    "tokens",
    Model,
);
pub const AI_REQUESTS: Metric = metric(
    "ai_requests",
    "AI Requests",
    "Number of AI completion requests",
    "requests",
    Model,
);
pub const STORAGE_BYTES: Metric = metric(
    "storage_bytes",
    "Storage",
    "Storage space used (bytes added less bytes deleted)",
    "bytes",
    Day,
);
pub const FILE_UPLOADS: Metric = metric(
    "file_uploads",
    "File Uploads",
    "Number of files uploaded",
    "files",
    Day,
);
pub const FILE_DOWNLOADS: Metric = metric(
    "file_downloads",
    "File Downloads",
    "Number of files downloaded",
    "files",
    Day,
);
pub const WEBSOCKET_MESSAGES: Metric = metric(
    "websocket_messages",
    "WebSocket Messages",
    "Realtime messages sent and received",
    "messages",
    Day,
);
pub const BACKGROUND_JOBS: Metric = metric(
    "background_jobs",
    "Background Jobs",
    "Background jobs completed",
    "jobs",
    Day,
);
pub const EMAIL_SENT: Metric = metric("email_sent", "Emails Sent", "Emails sent", "emails", Day);

/// Every metric, in the order the usage routes list them.
pub const METRICS: [Metric; 9] = [
    API_REQUESTS,
    AI_TOKENS,
    AI_REQUESTS,
    STORAGE_BYTES,
    FILE_UPLOADS,
    FILE_DOWNLOADS,
    WEBSOCKET_MESSAGES,
    BACKGROUND_JOBS,
    EMAIL_SENT,
];

impl Metric {
    /// The metric named `key`, if there is one.
    pub fn parse(key: &str) -> Option<Metric> {
        METRICS.into_iter().find(|m| m.key == key)
    }
}

/// The attribute counting one member's share of an organization's usage.
const MEMBER_PREFIX: &str = "by_member#";

/// A counter that has not answered by then is given up (and logged): metering never
/// holds a request up for long.
const RECORD_TIMEOUT: Duration = Duration::from_millis(500);

/// Whose usage a count is: a user's own, or an organization's, where each count also
/// names the member who caused it (their allowance is the organization's, pooled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageOwner {
    /// The user's id, or the organization's tenant id.
    pub id: String,
    /// In an organization: the member.
    pub member: Option<String>,
}

impl UsageOwner {
    pub fn user(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            member: None,
        }
    }
}

/// One owner's counts of one metric in one month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthUsage {
    pub total: i64,
    /// Day of the month (1–31) → count; days without events are absent.
    pub days: BTreeMap<u8, i64>,
    /// Dimension → count.
    pub by: BTreeMap<String, i64>,
    /// An organization's: member's user id → count.
    pub members: BTreeMap<String, i64>,
}

impl MonthUsage {
    fn from_item(item: &crate::table::Item) -> Self {
        let number = |value: &AttributeValue| {
            value
                .as_n()
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut usage = MonthUsage::default();
        for (name, value) in item {
            // Requests of a window not yet moved into `count` (see `requests`).
            if name == "count" || name.starts_with("hits#") {
                usage.total += number(value);
            } else if let Some(dimension) = name.strip_prefix("by#") {
                usage.by.insert(dimension.to_owned(), number(value));
            } else if let Some(member) = name.strip_prefix(MEMBER_PREFIX) {
                usage.members.insert(member.to_owned(), number(value));
            } else if let Some(day) = name.strip_prefix('d').and_then(|d| d.parse().ok()) {
                usage.days.insert(day, number(value));
            }
        }
        usage
    }

    /// The count of `day`, 0 when nothing happened then.
    pub fn day(&self, day: u8) -> i64 {
        self.days.get(&day).copied().unwrap_or(0)
    }
}

/// `YYYY-MM`.
pub fn month_key(date: Date) -> String {
    format!("{:04}-{:02}", date.year(), u8::from(date.month()))
}

/// The first day of the month before `date`'s.
pub fn previous_month(date: Date) -> Date {
    let (year, month) = match date.month() {
        Month::January => (date.year() - 1, Month::December),
        month => (date.year(), month.previous()),
    };
    Date::from_calendar_date(year, month, 1).unwrap_or(date)
}

/// The first day of the month after `date`'s.
pub fn next_month(date: Date) -> Date {
    let (year, month) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        month => (date.year(), month.next()),
    };
    Date::from_calendar_date(year, month, 1).unwrap_or(date)
}

/// Usage counters, per user, metric and month.
#[derive(Debug, Clone)]
pub struct UsageMeter {
    table: Table,
}

impl UsageMeter {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Counts `amount` (negative to take back) of `metric` for `user_id` today (UTC),
    /// under `dimension` when given. A failure or a slow table is logged, never returned:
    /// the request that caused the usage has its answer already.
    pub async fn record(
        &self,
        user_id: &str,
        metric: Metric,
        amount: i64,
        dimension: Option<&str>,
    ) {
        self.record_to(&UsageOwner::user(user_id), metric, amount, dimension)
            .await;
    }

    /// As [`Self::record`], for `owner`: a user, or an organization and its member.
    pub async fn record_to(
        &self,
        owner: &UsageOwner,
        metric: Metric,
        amount: i64,
        dimension: Option<&str>,
    ) {
        let today = OffsetDateTime::now_utc().date();
        let add = self.add(owner, metric, today, amount, dimension);
        match tokio::time::timeout(RECORD_TIMEOUT, add).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error.cause = %e, usage.metric = metric.key, "usage not counted");
            }
            Err(_) => tracing::warn!(usage.metric = metric.key, "usage not counted: timed out"),
        }
    }

    /// Counts `amount` of `metric` for `owner` on `day`: the day, the month total (and
    /// with it a user's place in the month's ranking, or a member's share of an
    /// organization's) and the `dimension`, in one atomic update.
    pub async fn add(
        &self,
        owner: &UsageOwner,
        metric: Metric,
        day: Date,
        amount: i64,
        dimension: Option<&str>,
    ) -> Result<(), StoreError> {
        let write = self.add_write(owner, metric, day, amount, dimension)?;
        let update = write
            .update
            .ok_or_else(|| StoreError::Other("a usage write is an update".into()))?;
        self.table.update_alone(update).await
    }

    /// [`Self::add`] as one write of the transaction of the change it counts, so the
    /// count is exact: it moves exactly when the change happens.
    pub fn add_write(
        &self,
        owner: &UsageOwner,
        metric: Metric,
        day: Date,
        amount: i64,
        dimension: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let month = month_key(day);
        let mut update = Update::builder()
            .table_name(self.table.name())
            .set_key(Some(Key::usage(&owner.id, metric.key, &month).attributes()))
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#day", format!("d{:02}", day.day()))
            .expression_attribute_values(":amount", n(amount));
        let mut adds = "#count :amount, #day :amount".to_owned();
        if let Some(dimension) = dimension {
            update = update.expression_attribute_names("#by", format!("by#{dimension}"));
            adds.push_str(", #by :amount");
        }
        // Users are ranked against each other; an organization is not a user.
        let expression = match &owner.member {
            None => {
                let rank = ranking_key(metric, &month, &owner.id);
                update = update.expression_attribute_values(":rank", s(rank));
                format!("SET rank_pk = :rank ADD {adds}")
            }
            Some(member) => {
                update = update
                    .expression_attribute_names("#member", format!("{MEMBER_PREFIX}{member}"));
                format!("ADD {adds}, #member :amount")
            }
        };
        let update = update
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// `user_id`'s usage of `metric` in the month of `month` (any day of it).
    pub async fn month(
        &self,
        user_id: &str,
        metric: Metric,
        month: Date,
    ) -> Result<MonthUsage, StoreError> {
        let key = Key::usage(user_id, metric.key, &month_key(month));
        let output = self
            .table
            .client()
            .get_item()
            .table_name(self.table.name())
            .set_key(Some(key.attributes()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(output
            .item
            .as_ref()
            .map(MonthUsage::from_item)
            .unwrap_or_default())
    }

    /// `user_id`'s usage of each of `metrics` in each of `months` (any day of each), in
    /// one batch read. Pairs without usage are zero.
    pub async fn months(
        &self,
        user_id: &str,
        metrics: &[Metric],
        months: &[Date],
    ) -> Result<BTreeMap<(&'static str, String), MonthUsage>, StoreError> {
        let mut read = BTreeMap::new();
        for metric in metrics {
            for month in months {
                read.insert((metric.key, month_key(*month)), MonthUsage::default());
            }
        }
        let keys: Vec<_> = read
            .keys()
            .map(|(metric, month)| Key::usage(user_id, metric, month))
            .collect();
        for item in self.table.batch_get(&keys).await? {
            let sort = item.get("sk").and_then(|v| v.as_s().ok());
            let Some((metric, month)) = sort.and_then(|sk| sk.split_once('#')) else {
                continue;
            };
            if let Some(metric) = Metric::parse(metric) {
                read.insert((metric.key, month.to_owned()), MonthUsage::from_item(&item));
            }
        }
        Ok(read)
    }
}
