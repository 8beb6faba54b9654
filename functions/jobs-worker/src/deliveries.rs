//! Outgoing webhooks: fan-out of a published event to its subscribers, one signed
//! delivery per subscriber, and to the realtime channels it names; and the contact
//! form's CRM webhook.

use aloft_queue::{Attempt, ContactCrm, Delivery, Fanout, Job, JobError, Queued};
use aloft_realtime::event::published;
use aloft_store::{DeliveryAttempt, DeliveryRecord, JobRecord, StoreError, TenantId};
use serde_json::json;

use crate::{Jobs, Outgoing, unix_now};

/// Deliveries stay listed for 30 days.
const DELIVERY_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// One delivery per subscriber. Ids derive from the fan-out job's, so a retried
/// fan-out finds its deliveries and queues no second copy.
pub(crate) async fn fan_out(jobs: &Jobs, fanout: &Fanout, job: &JobRecord) -> Result<(), JobError> {
    let name = fanout.event.name();
    let subscriptions = match &fanout.tenant {
        _ if fanout.event.operator_only() => jobs.webhooks.operator_subscriptions().await,
        Some(tenant) => jobs.webhooks.subscriptions(tenant).await,
        None => {
            return Err(JobError::Permanent(format!(
                "tenant event {name} published without a tenant"
            )));
        }
    }?;
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
            Err(e) => return Err(e.into()),
        }
        let delivery = Job::Delivery(Delivery {
            tenant,
            subscription_id: subscription.id.clone(),
            delivery_id: id.clone(),
        })
        .new_job()?;
        // The delivery's id: a retried fan-out queues no second copy.
        jobs.producer
            .enqueue(aloft_queue::NewJob { id, ..delivery })
            .await?;
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
pub(crate) async fn deliver(
    jobs: &Jobs,
    target: &Delivery,
    attempt: Attempt,
) -> Result<(), JobError> {
    let repo = &jobs.webhooks;
    let Some(subscription) = repo
        .subscription(&target.tenant, &target.subscription_id)
        .await?
    else {
        tracing::info!(delivery.id = %target.delivery_id, "subscription deleted; delivery dropped");
        return Ok(());
    };
    let delivery = repo
        .delivery(&target.tenant, &target.subscription_id, &target.delivery_id)
        .await?
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
    .await?;
    error.map_or(Ok(()), |e| Err(e.into()))
}

/// The contact form's CRM webhook, signed like every delivery.
pub(crate) async fn contact_crm(
    jobs: &Jobs,
    crm: &ContactCrm,
    job: &JobRecord,
) -> Result<(), JobError> {
    let secret = jobs
        .contact_secret
        .as_deref()
        .ok_or_else(|| JobError::Permanent("CONTACT_WEBHOOK_SECRET is not set".into()))?;
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
        code => Err(format!("the CRM answered {code}").into()),
    }
}
