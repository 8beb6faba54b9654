//! `POST /public/webhooks/{provider}`: nothing is stored before the signature checks out;
//! then the event id is recorded with a conditional put, so a provider's retry (or a
//! replay) is acknowledged without being processed twice. The guard has counted the
//! request per client IP and per provider before it gets here, and an App Store
//! notification's shape is checked before its certificate chains.

use aloft_core::ApiError;
use aloft_http::{Reply, metrics, openapi::ErrorBody};
use aloft_inbound::{Provider, ProviderJob, Rejection, VerifiedEvent};
use aloft_queue::{NewJob, Queued};
use aloft_store::{InboundEventRecord, StoreError};
use axum::extract::{Path, State};
use bytes::Bytes;
use http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{AppState, app_store};

/// Longer than any provider retries (Stripe: 3 days, Apple: about 3 days).
const EVENT_RETENTION_SECONDS: u64 = 30 * 24 * 3600;

/// The acknowledgement providers get.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub received: bool,
    /// The provider's event id.
    pub event_id: String,
    /// `true` when this event was received before; it is not processed again.
    pub duplicate: bool,
}

/// Receive a provider webhook.
#[utoipa::path(
    post,
    path = "/public/webhooks/{provider}",
    tag = "Webhooks",
    params(("provider" = String, Path, description = "`stripe`, `clerk`, `supabase`, `apple` or `google`")),
    request_body(content = String, description = "The provider's signed event, as sent", content_type = "application/json"),
    responses(
        (status = 200, description = "Verified and queued (or a duplicate, acknowledged)", body = Received),
        (status = 400, description = "Missing, malformed, stale or wrong signature; nothing stored", body = ErrorBody),
        (status = 404, description = "Unknown provider, or not configured here", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit (`PAYLOAD_TOO_LARGE`)", body = ErrorBody),
        (status = 429, description = "Over the webhook limit of the client IP or of the provider (`RATE_LIMIT_EXCEEDED`, `Retry-After`); nothing checked or stored", body = ErrorBody),
        (status = 503, description = "The rate limiter did not answer (`SERVICE_UNAVAILABLE`, `Retry-After`); nothing checked or stored", body = ErrorBody),
    )
)]
pub(crate) async fn receive_webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Received>, ApiError> {
    let provider = Provider::parse(&provider)
        .filter(|p| state.verifier.is_configured(*p))
        .ok_or_else(|| ApiError::not_found("Webhook provider", provider))?;
    // An App Store notification's shape is checked first: its chains are the costly part.
    let shaped = match provider {
        Provider::Apple => app_store::check(&body, state.apple_bundle_id.as_deref()),
        _ => Ok(()),
    };
    let verified = match shaped {
        Ok(()) => {
            let now = unix_now();
            state.verifier.verify(provider, &headers, &body, now).await
        }
        Err(rejection) => Err(rejection),
    };
    let outcome = if verified.is_ok() {
        "WebhooksVerified"
    } else {
        "WebhooksRejected"
    };
    metrics::count(outcome, ("Provider", provider.as_str()), 1);
    let event = verified.map_err(|rejection| reject(provider, rejection))?;
    let duplicate = record_and_queue(&state, &event).await?;
    tracing::info!(
        webhook.provider = provider.as_str(),
        webhook.event_id = event.id.as_str(),
        webhook.kind = event.kind.as_str(),
        duplicate,
        "provider webhook accepted"
    );
    Ok(Reply::ok(Received {
        received: true,
        event_id: event.id,
        duplicate,
    }))
}

/// Records the event and queues its job; `true` if it had been received already.
async fn record_and_queue(state: &AppState, event: &VerifiedEvent) -> Result<bool, ApiError> {
    let provider = event.provider.as_str();
    let record = InboundEventRecord {
        provider: provider.to_owned(),
        event_id: event.id.clone(),
        kind: event.kind.clone(),
        job_id: uuid::Uuid::now_v7().to_string(),
        received_at: aloft_core::timestamp::now(),
        expires_at: aloft_core::timestamp::unix_now() + EVENT_RETENTION_SECONDS,
    };
    let (record, duplicate) = match state.webhooks.record_inbound(&record).await {
        Ok(()) => (record, false),
        Err(StoreError::ConditionFailed) => {
            let stored = state
                .webhooks
                .inbound(provider, &event.id)
                .await?
                .ok_or(StoreError::ConditionFailed)?;
            (stored, true)
        }
        Err(e) => return Err(e.into()),
    };
    // Enqueueing is idempotent by job id: a retry after a failed send (the provider
    // retries on our error) queues the job now; a true duplicate finds it queued.
    let job = ProviderJob::Event(event.clone()).new_job()?;
    state
        .producer
        .enqueue(NewJob {
            id: record.job_id,
            ..job
        })
        .await?;
    Ok(duplicate)
}

/// Every failed check is 400 (Stripe's convention) with the reason, never the secret.
fn reject(provider: Provider, rejection: Rejection) -> ApiError {
    tracing::warn!(
        webhook.provider = provider.as_str(),
        reason = %rejection,
        "provider webhook rejected"
    );
    match rejection {
        Rejection::NotConfigured => ApiError::not_found("Webhook provider", provider.as_str()),
        other => ApiError::BadRequest(format!("Webhook rejected: {other}").into()),
    }
}

fn unix_now() -> i64 {
    i64::try_from(aloft_core::timestamp::unix_now()).unwrap_or(i64::MAX)
}
