//! Webhook items: inbound provider events (recorded once, so a provider's retry is not
//! processed twice), and the tenant's outgoing subscriptions and their deliveries.

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::{
    Key, Stats, StoreError, Table, Tally, TenantId,
    table::{n, s},
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub tenant_id: String,
    pub owner_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: String,
}

/// One event sent (or being sent) to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub subscription_id: String,
    pub event: String,
    /// The exact body sent, so every retry signs and sends the same bytes.
    pub body: String,
    /// `pending`, `succeeded`, `failed` (will be retried) or `dead`.
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
/// [`Stats`].
#[derive(Debug, Clone)]
pub struct WebhookRepo {
    table: Table,
    stats: Stats,
}

fn deliveries_kind(subscription_id: &str) -> String {
    format!("WEBHOOK_DELIVERY#{subscription_id}")
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

    /// The tenant's subscriptions, oldest first.
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
        let output = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(
                Key::tenant_item(tenant, SUBSCRIPTION, id).attributes(),
            ))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(output.attributes.is_some())
    }

    /// Stores a delivery once; a retried fan-out finds it there (`ConditionFailed`).
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
        self.table.put_new(&key, delivery).await?;
        self.stats
            .count(Tally::delivery(None, &delivery.status))
            .await;
        Ok(())
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

    /// A subscription's deliveries, newest first (ids are time-ordered).
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let partition = Key::tenant_item(tenant, &deliveries_kind(subscription_id), "").pk;
        self.table
            .query_all(|query| {
                query
                    .key_condition_expression("pk = :partition")
                    .expression_attribute_values(":partition", s(&partition))
                    .scan_index_forward(false)
            })
            .await
    }

    pub async fn record_attempt(
        &self,
        tenant: &TenantId,
        subscription_id: &str,
        id: &str,
        attempt: &DeliveryAttempt<'_>,
    ) -> Result<(), StoreError> {
        let mut expression =
            String::from("SET #status = :status, attempts = :attempt, updated_at = :now");
        let mut request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(
                Key::tenant_item(tenant, &deliveries_kind(subscription_id), id).attributes(),
            ))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(attempt.status))
            .expression_attribute_values(":attempt", n(attempt.attempt))
            .expression_attribute_values(":now", s(attempt.now));
        if let Some(code) = attempt.response_status {
            expression.push_str(", response_status = :code");
            request = request.expression_attribute_values(":code", n(code));
        }
        match attempt.error {
            Some(error) => {
                expression.push_str(", last_error = :error");
                request = request.expression_attribute_values(":error", s(error));
            }
            None => expression.push_str(" REMOVE last_error"),
        }
        let output = request
            .update_expression(expression)
            // The status it had, for the dashboard's counters.
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let was = output
            .attributes
            .as_ref()
            .and_then(|old| old.get("status"))
            .and_then(|status| status.as_s().ok());
        if let Some(was) = was {
            self.stats
                .count(Tally::delivery(Some(was), attempt.status))
                .await;
        }
        Ok(())
    }
}
