//! Outgoing webhooks: fan-out of a published event to its subscribers, one signed
//! delivery per subscriber, and to the realtime channels it names; and the contact
//! form's CRM webhook.

use aloft_queue::{Attempt, ContactCrm, Fanout, NewJob, QueueName};
use aloft_realtime::event::published;
use aloft_store::{DeliveryAttempt, DeliveryRecord, JobRecord, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Jobs, Outgoing, payload, unix_now};

pub const DELIVERY_KIND: &str = "webhook.delivery";
/// Deliveries stay listed for 30 days.
const DELIVERY_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// The payload of a delivery job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: TenantId,
    pub subscription_id: String,
    pub delivery_id: String,
}

fn store(e: StoreError) -> String {
    e.to_string()
}

/// One delivery per subscriber. Ids derive from the fan-out job's, so a retried
/// fan-out finds its deliveries and queues no second copy.
pub(crate) async fn fan_out(jobs: &Jobs, job: &JobRecord) -> Result<(), String> {
    let fanout: Fanout = payload(job)?;
    let name = fanout.event.name();
    let subscriptions = match &fanout.tenant {
        _ if fanout.event.operator_only() => jobs.webhooks.operator_subscriptions().await,
        Some(tenant) => jobs.webhooks.subscriptions(tenant).await,
        None => return Err(format!("tenant event {name} published without a tenant")),
    }
    .map_err(store)?;
    let now = aloft_core::timestamp::now();
    for subscription in subscriptions
        .iter()
        .filter(|s| s.events.iter().any(|e| e == name))
    {
        let tenant = TenantId::new(&subscription.tenant_id);
        let id = format!("{}_{}", job.id, subscription.id);
        let body = json!({
            "id": id,
            "event": name,
            "timestamp": fanout.occurred_at,
            "data": fanout.data,
        });
        let delivery = DeliveryRecord {
            id: id.clone(),
            subscription_id: subscription.id.clone(),
            event: name.to_owned(),
            body: body.to_string(),
            status: "pending".into(),
            attempts: 0,
            response_status: None,
            last_error: None,
            created_at: now.clone(),
            updated_at: now.clone(),
            expires_at: u64::try_from(unix_now() + DELIVERY_RETENTION_SECONDS).unwrap_or(0),
        };
        match jobs.webhooks.create_delivery(&tenant, &delivery).await {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(store(e)),
        }
        let job = Delivery {
            tenant,
            subscription_id: subscription.id.clone(),
            delivery_id: id.clone(),
        };
        let payload = serde_json::to_value(&job).map_err(|e| e.to_string())?;
        jobs.producer
            .enqueue(NewJob {
                id,
                kind: DELIVERY_KIND.into(),
                queue: QueueName::Jobs,
                payload,
                user_id: None,
            })
            .await
            .map_err(store)?;
    }
    // Last, so that a fan-out retried for a failed delivery rarely pushes twice.
    if let Some(realtime) = &jobs.realtime {
        let now = u64::try_from(unix_now()).unwrap_or(0);
        for channel in &fanout.channels {
            let event = published(name, channel, &fanout.data, &fanout.occurred_at);
            if let Err(e) = realtime.to_channel(channel, &event, None, now).await {
                tracing::warn!(error.cause = %e, channel, "event not pushed to its channel");
            }
        }
    }
    Ok(())
}

/// Sends one delivery and records the attempt on it.
pub(crate) async fn deliver(jobs: &Jobs, job: &JobRecord, attempt: Attempt) -> Result<(), String> {
    let target: Delivery = payload(job)?;
    let repo = &jobs.webhooks;
    let Some(subscription) = repo
        .subscription(&target.tenant, &target.subscription_id)
        .await
        .map_err(store)?
    else {
        tracing::info!(delivery.id = %target.delivery_id, "subscription deleted; delivery dropped");
        return Ok(());
    };
    let delivery = repo
        .delivery(&target.tenant, &target.subscription_id, &target.delivery_id)
        .await
        .map_err(store)?
        .ok_or_else(|| format!("no delivery {}", target.delivery_id))?;
    let out = Outgoing {
        url: &subscription.url,
        secret: &subscription.secret,
        id: &delivery.id,
        event: &delivery.event,
        body: &delivery.body,
        extra: &[],
    };
    let sent = jobs.sender.send(&out, unix_now()).await;
    let (response_status, error) = match &sent {
        Ok(code) if (200..300).contains(code) => (Some(*code), None),
        Ok(code) => (Some(*code), Some(format!("the receiver answered {code}"))),
        Err(e) => (None, Some(e.clone())),
    };
    let status = match (&error, attempt.last) {
        (None, _) => "succeeded",
        (Some(_), false) => "failed",
        (Some(_), true) => "dead",
    };
    let now = aloft_core::timestamp::now();
    let record = DeliveryAttempt {
        status,
        attempt: attempt.number,
        response_status,
        error: error.as_deref(),
        now: &now,
    };
    repo.record_attempt(
        &target.tenant,
        &target.subscription_id,
        &delivery.id,
        &record,
    )
    .await
    .map_err(store)?;
    error.map_or(Ok(()), Err)
}

/// The contact form's CRM webhook, signed like every delivery.
pub(crate) async fn contact_crm(jobs: &Jobs, job: &JobRecord) -> Result<(), String> {
    let crm: ContactCrm = payload(job)?;
    let secret = jobs
        .contact_secret
        .as_deref()
        .ok_or("CONTACT_WEBHOOK_SECRET is not set")?;
    let body = crm.body.to_string();
    let out = Outgoing {
        url: &crm.url,
        secret,
        id: &job.id,
        event: "contact.submitted",
        body: &body,
        extra: &[("x-reference-id", &crm.reference_id)],
    };
    match jobs.sender.send(&out, unix_now()).await? {
        code if (200..300).contains(&code) => Ok(()),
        code => Err(format!("the CRM answered {code}")),
    }
}
