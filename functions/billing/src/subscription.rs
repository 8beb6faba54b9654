//! The subscription as the user sees it (`status`, from stored state) and changes to it
//! (`cancel`, `resume`), which Stripe makes and we store at once.

use aloft_auth::{AuthUser, Principal};
use aloft_core::ApiError;
use aloft_http::{
    Query, Reply,
    openapi::{ErrorBody, InvalidQuery, SignedIn},
};
use aloft_store::{BillingChange, UserRecord, is_paid_status};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    stripe::{Form, objects::Subscription},
};

/// `GET /app/billing/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingStatus {
    /// `free`, `pro` or `enterprise`.
    pub plan: String,
    /// Stripe's subscription status (`active`, `trialing`, `past_due`, `canceled`, …);
    /// `null` before the first subscription.
    pub status: Option<String>,
    /// ISO 8601, UTC; when the paid period ends.
    pub current_period_end: Option<String>,
    pub cancel_at_period_end: bool,
    /// A paid plan in `active`, `trialing` or `past_due`.
    pub has_active_subscription: bool,
}

/// `POST /app/billing/cancel`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancellation {
    pub message: String,
    pub cancel_at_period_end: bool,
    /// ISO 8601, UTC.
    pub current_period_end: Option<String>,
}

/// `POST /app/billing/resume`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resumed {
    pub message: String,
    pub status: String,
    pub plan: String,
}

/// `?immediate=` of `cancel`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// End the subscription now (no refund) instead of at the end of the period.
    #[serde(default)]
    pub immediate: bool,
}

/// The caller's billing status, from our stored state (no Stripe call).
#[utoipa::path(
    get,
    path = "/app/billing/status",
    tag = "Billing",
    responses(
        SignedIn,
        (status = 200, description = "The caller's plan and subscription", body = BillingStatus),
        (status = 404, description = "The caller's user record is gone", body = ErrorBody),
    )
)]
pub(crate) async fn billing_status(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<BillingStatus>, ApiError> {
    let user = caller(&state, &principal).await?;
    Ok(Reply::ok(BillingStatus {
        has_active_subscription: user.has_active_subscription(),
        current_period_end: user.subscription_period_end.and_then(iso),
        plan: user.subscription_plan,
        status: user.subscription_status,
        cancel_at_period_end: user.cancel_at_period_end,
    }))
}

/// Cancel the subscription at the end of the period, or now with `immediate=true`.
#[utoipa::path(
    post,
    path = "/app/billing/cancel",
    tag = "Billing",
    params(CancelQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "Cancelled; `status` shows it at once", body = Cancellation),
        (status = 400, description = "Stripe refused the request (its message)", body = ErrorBody),
        (status = 404, description = "No active subscription", body = ErrorBody),
        (status = 422, description = "`immediate` is not true or false", body = ErrorBody),
        (status = 503, description = "Stripe is not configured (`details.configure`) or unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_subscription(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<CancelQuery>,
) -> Result<Reply<Cancellation>, ApiError> {
    state.stripe.require_key()?;
    let user = caller(&state, &principal).await?;
    let path = subscription_path(&user)?;
    let subscription: Subscription = if query.immediate {
        state.stripe.delete(&path).await?
    } else {
        let form = Form::new().with("cancel_at_period_end", "true");
        state
            .stripe
            .post(&path, &form, &request_key("cancel"))
            .await?
    };
    store(&state, &user.id, &subscription).await?;
    let message = if query.immediate {
        "Subscription canceled"
    } else {
        "Subscription will cancel at the end of the billing period"
    };
    tracing::info!(
        user.id = user.id.as_str(),
        billing.immediate = query.immediate,
        "subscription canceled"
    );
    Ok(Reply::ok(Cancellation {
        message: message.into(),
        cancel_at_period_end: subscription.cancel_at_period_end,
        current_period_end: subscription.period_end().and_then(iso),
    }))
}

/// Undo a cancellation at the end of the period.
#[utoipa::path(
    post,
    path = "/app/billing/resume",
    tag = "Billing",
    responses(
        SignedIn,
        (status = 200, description = "Resumed; `status` shows it at once", body = Resumed),
        (status = 400, description = "Stripe refused the request (its message)", body = ErrorBody),
        (status = 404, description = "No active subscription", body = ErrorBody),
        (status = 503, description = "Stripe is not configured (`details.configure`) or unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn resume_subscription(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<Resumed>, ApiError> {
    state.stripe.require_key()?;
    let user = caller(&state, &principal).await?;
    let path = subscription_path(&user)?;
    let form = Form::new().with("cancel_at_period_end", "false");
    let subscription: Subscription = state
        .stripe
        .post(&path, &form, &request_key("resume"))
        .await?;
    let change = store(&state, &user.id, &subscription).await?;
    tracing::info!(user.id = user.id.as_str(), "subscription resumed");
    Ok(Reply::ok(Resumed {
        message: "Subscription resumed".into(),
        status: subscription.status,
        plan: change.plan.unwrap_or(user.subscription_plan),
    }))
}

/// The caller's user record; 404 if it is gone.
pub(crate) async fn caller(
    state: &AppState,
    principal: &Principal,
) -> Result<UserRecord, ApiError> {
    state
        .users
        .get(&principal.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User", principal.user_id.clone()))
}

/// `/v1/subscriptions/<id>` of the user's active subscription; 404 without one.
fn subscription_path(user: &UserRecord) -> Result<String, ApiError> {
    match &user.subscription_id {
        Some(id) if user.has_active_subscription() => {
            let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            Ok(format!("/v1/subscriptions/{id}"))
        }
        _ => Err(ApiError::not_found("Subscription", "")),
    }
}

/// Stores Stripe's answer as an event created now: newer than every event Stripe sent
/// before the change, so a late delivery of one of them is ignored (`apply_billing`
/// keeps the newest), while the change's own webhook (created now or later) still
/// applies.
async fn store(
    state: &AppState,
    user_id: &str,
    subscription: &Subscription,
) -> Result<BillingChange, ApiError> {
    // The webhook worker's rule: a plan named in metadata, else the price's plan.
    let plan = if is_paid_status(&subscription.status) {
        subscription
            .metadata
            .get("plan")
            .cloned()
            .unwrap_or_else(|| state.settings.plan_of(subscription.price()))
    } else {
        "free".to_owned()
    };
    let change = BillingChange {
        plan: Some(plan),
        status: Some(subscription.status.clone()),
        period_end: subscription.period_end(),
        cancel_at_period_end: Some(subscription.cancel_at_period_end),
        subscription_id: Some(subscription.id.clone()),
    };
    let now = aloft_core::timestamp::unix_now();
    let event_at = i64::try_from(now).map_err(ApiError::internal)?;
    state
        .users
        .apply_billing(user_id, &change, event_at, &aloft_core::timestamp::now())
        .await?;
    Ok(change)
}

/// A fresh `Idempotency-Key` for one request of ours: Stripe answers a retry of it (a
/// wait on `idempotency_key_in_use`) without acting twice.
pub(crate) fn request_key(action: &str) -> String {
    format!("aloft-{action}-{}", uuid::Uuid::new_v4())
}

/// Unix seconds as ISO 8601, UTC.
pub(crate) fn iso(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(aloft_core::timestamp::format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_read_as_the_reference_writes_them() {
        assert_eq!(iso(1_770_724_800).as_deref(), Some("2026-02-10T12:00:00Z"));
    }

    #[test]
    fn without_an_active_subscription_there_is_nothing_to_change() {
        let mut user = UserRecord {
            subscription_id: Some("sub_1".into()),
            subscription_status: Some("canceled".into()),
            ..aloft_testkit::user_record("u1")
        };
        assert!(subscription_path(&user).is_err());
        user.subscription_plan = "pro".into();
        user.subscription_status = Some("active".into());
        assert_eq!(subscription_path(&user).unwrap(), "/v1/subscriptions/sub_1");
    }
}
