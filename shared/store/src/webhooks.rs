//! Webhook items: inbound provider events (recorded once, so a provider's retry is not
//! processed twice), and the tenant's outgoing subscriptions and their deliveries. A
//! subscription's deliveries are one partition (newest first by id) and are also listed
//! by status in `gsi1`, so either list is read a page at a time.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use aloft_core::{MAX_EXAMINED, PageRequest, Slice};

use crate::{
    Key, Stats, StoreError, Table, Tally, TenantId,
    table::{Range, n, s},
};

const SUBSCRIPTION: &str = "WEBHOOK_SUB";
/// Subscriptions to operator events (e.g. `contact.submitted`) are also indexed here, so
/// fan-out finds them without knowing their tenants.
const OPERATOR_INDEX: &str = "WEBHOOK_SUBS#operator";

/// A provider event we accepted: its job does the processing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEventRecord {
    pub provider: String,
    pub event_id: String,
    pub kind: String,
    pub job_id: String,
    pub received_at: String,
    /// Providers retry for days (Apple up to ~3, Stripe up to 3); a month covers them.
    pub expires_at: u64,
}

/// An outgoing webhook subscription. The secret signs deliveries; it is shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub tenant_id: String,
    pub owner_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: String,
}

/// Everything but the secret, which a caller may share with other systems.
impl std::fmt::Debug for SubscriptionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("owner_id", &self.owner_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// One event sent (or being sent) to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub subscription_id: String,
    pub event: String,
    /// The exact body sent, so every retry signs and sends the same bytes.
    pub body: String,
    /// `pending`, `succeeded`, `failed` (will be retried), `dead`, or `cancelled` (its
    /// job was cancelled before it was sent).
    pub status: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: u64,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt<'a> {
    pub status: &'a str,
    pub attempt: u32,
    pub response_status: Option<u16>,
    pub error: Option<&'a str>,
    pub now: &'a str,
}

/// Webhook items. Every delivery's status change is counted in the dashboard's
/// [`Stats`], in the transaction that makes it.
#[derive(Debug, Clone)]
pub struct WebhookRepo {
    table: Table,
    stats: Stats,
}

/// An attempt's write conditioned on the status read is tried this often, reading again
/// each time the status moved meanwhile.
const ATTEMPTS: usize = 3;

fn deliveries_kind(subscription_id: &str) -> String {
    format!("WEBHOOK_DELIVERY#{subscription_id}")
}

/// A subscription's deliveries in one status, listed in `gsi1` by time:
/// `T#<tenant>#DELIVERIES#<subscription>#<status>` / `<created_at>#<id>`. Every status
/// change moves the delivery's `gsi1pk`, so a status filter reads only that status.
fn status_index(tenant: &TenantId, subscription_id: &str, status: &str) -> String {
    format!(
        "T#{}#DELIVERIES#{subscription_id}#{status}",
        tenant.as_str()
    )
}

impl WebhookRepo {
    pub fn new(table: Table) -> Self {
        Self {
            stats: Stats::new(table.clone()),
            table,
        }
    }

    /// Records a provider event once. A second record of the same event is
    /// [`StoreError::ConditionFailed`].
    pub async fn record_inbound(&self, event: &InboundEventRecord) -> Result<(), StoreError> {
        self.table
            .put_new(&Key::inbound_event(&event.provider, &event.event_id), event)
            .await
    }

    pub async fn inbound(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<Option<InboundEventRecord>, StoreError> {
        self.table
            .get(&Key::inbound_event(provider, event_id))
            .await
    }

    /// Stores a subscription; `operator` when it listens to operator events.
    pub async fn create_subscription(
        &self,
        record: &SubscriptionRecord,
        operator: bool,
    ) -> Result<(), StoreError> {
        let tenant = TenantId::new(&record.tenant_id);
        let key = Key::tenant_item(&tenant, SUBSCRIPTION, &record.id);
        let index = operator.then(|| (OPERATOR_INDEX.to_owned(), record.id.clone()));
        self.table.put_new_indexed(&key, record, index).await
    }

    pub async fn subscription(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.table
            .get(&Key::tenant_item(tenant, SUBSCRIPTION, id))
            .await
    }

    /// The tenant's subscriptions, oldest first. The partition is small by design: the
    /// webhooks function refuses a create past 20 per tenant (a check before the write,
    /// so racing creates can pass it together, each by one), and fan-out reads them all
    /// for every event anyway.
    pub async fn subscriptions(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let partition = Key::tenant_item(tenant, SUBSCRIPTION, "").pk;
        self.table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :partition")
                    .expression_attribute_values(":partition", s(&partition))
            })
            .await
    }

    /// Every subscription to operator events, across tenants.
    pub async fn operator_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.table
            .query_all(|query| {
                query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :index")
                    .expression_attribute_values(":index", s(OPERATOR_INDEX))
            })
            .await
    }

    /// Deletes a subscription; `false` if there was none. Its deliveries expire by TTL.
    pub async fn delete_subscription(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.table
            .delete_existing(&Key::tenant_item(tenant, SUBSCRIPTION, id))
            .await
    }

    /// Stores a delivery once, and counts it, in one transaction; a retried fan-out finds
    /// it there (`ConditionFailed`) and counts nothing.
    pub async fn create_delivery(
        &self,
        tenant: &TenantId,
        delivery: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        let key = Key::tenant_item(
            tenant,
            &deliveries_kind(&delivery.subscription_id),
            &delivery.id,
        );
        let index = (
            status_index(tenant, &delivery.subscription_id, &delivery.status),
            format!("{}#{}", delivery.created_at, delivery.id),
        );
        let mut writes = vec![self.table.put_new_write(&key, delivery, Some(index))?];
        let tally = Tally::delivery(None, &delivery.status);
        writes.extend(self.stats.writes(&tally)?);
        self.table.write(writes).await
    }

    pub async fn delivery(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.table
            .get(&Key::tenant_item(
                tenant,
                &deliveries_kind(subscription_id),
                id,
            ))
            .await
    }

    /// One page of a subscription's deliveries, newest first: all of them (the
    /// subscription's partition, whose ids are time-ordered) or those in `status` (its
    /// `gsi1` partition), read in key order, `skip + limit + 1` at most. `total` counts
    /// at most [`MAX_EXAMINED`] (deliveries expire by TTL, which no counter sees).
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
        status: Option<&str>,
        request: &PageRequest,
    ) -> Result<Slice<DeliveryRecord>, StoreError> {
        let range = match status {
            Some(status) => Range::index("gsi1", status_index(tenant, subscription_id, status)),
            None => {
                Range::table(Key::tenant_item(tenant, &deliveries_kind(subscription_id), "").pk)
            }
        }
        .descending(true);
        let (cut, total) = tokio::join!(
            self.table.page(&range, request, |_| true),
            self.table.count_range(&range, MAX_EXAMINED)
        );
        let (cut, (total, total_exact)) = (cut?, total?);
        Ok(Slice {
            items: cut.items,
            next: cut.next,
            total,
            total_exact,
            truncated: cut.truncated,
        })
    }

    /// Records how an attempt at a delivery ended, with the count of its status change,
    /// in one transaction: the delivery is read, and written on condition that its status
    /// is still the one read (read again if it moved meanwhile). No such delivery is
    /// [`StoreError::ConditionFailed`].
    pub async fn record_attempt(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
        id: &str,
        attempt: &DeliveryAttempt<'_>,
    ) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(read) = self.delivery(tenant, subscription_id, id).await? else {
                return Err(StoreError::ConditionFailed);
            };
            let mut writes = vec![attempt_write(
                &self.table,
                tenant,
                subscription_id,
                &read,
                attempt,
            )?];
            let tally = Tally::delivery(Some(read.status.as_str()), attempt.status);
            writes.extend(self.stats.writes(&tally)?);
            match self.table.write(writes).await {
                Err(StoreError::ConditionFailed) => {}
                written => return written,
            }
        }
        Err(StoreError::Unavailable(format!(
            "delivery {id} kept changing while its attempt was being recorded"
        )))
    }

    /// What cancelling a delivery's queued job writes to the delivery: `cancelled`, on
    /// condition that its status is still the one read, with the count of that change,
    /// for the job's cancellation to make in its transaction. `None` when there is no
    /// such delivery (it expired) or it already ended.
    pub async fn cancellation(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
        id: &str,
        now: &str,
    ) -> Result<Option<(TransactWriteItem, Tally)>, StoreError> {
        let Some(read) = self.delivery(tenant, subscription_id, id).await? else {
            return Ok(None);
        };
        if matches!(read.status.as_str(), "succeeded" | CANCELLED) {
            return Ok(None);
        }
        let attempt = DeliveryAttempt {
            status: CANCELLED,
            attempt: read.attempts,
            response_status: read.response_status,
            error: read.last_error.as_deref(),
            now,
        };
        let write = attempt_write(&self.table, tenant, subscription_id, &read, &attempt)?;
        Ok(Some((
            write,
            Tally::delivery(Some(&read.status), CANCELLED),
        )))
    }
}

/// The status of a delivery whose job an admin cancelled before it was sent.
const CANCELLED: &str = "cancelled";

/// The update that records `attempt` at the delivery `read`, if its status is still the
/// one read.
fn attempt_write(
    table: &Table,
    tenant: &TenantId,
    subscription_id: &str,
    read: &DeliveryRecord,
    attempt: &DeliveryAttempt<'_>,
) -> Result<TransactWriteItem, StoreError> {
    let mut expression = String::from(
        "SET #status = :status, attempts = :attempt, updated_at = :now, gsi1pk = :index",
    );
    let key = Key::tenant_item(tenant, &deliveries_kind(subscription_id), &read.id);
    let mut update = Update::builder()
        .table_name(table.name())
        .set_key(Some(key.attributes()))
        .condition_expression("#status = :read")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":read", s(&read.status))
        .expression_attribute_values(":status", s(attempt.status))
        .expression_attribute_values(":attempt", n(attempt.attempt))
        .expression_attribute_values(":now", s(attempt.now))
        .expression_attribute_values(
            ":index",
            s(status_index(tenant, subscription_id, attempt.status)),
        );
    if let Some(code) = attempt.response_status {
        expression.push_str(", response_status = :code");
        update = update.expression_attribute_values(":code", n(code));
    }
    match attempt.error {
        Some(error) => {
            expression.push_str(", last_error = :error");
            update = update.expression_attribute_values(":error", s(error));
        }
        None => expression.push_str(" REMOVE last_error"),
    }
    let update = update
        .update_expression(expression)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}
