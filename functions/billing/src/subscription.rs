//! The subscription as the user sees it (`status`, from stored state) and changes to it
//! (`cancel`, `resume`), which Stripe makes and we store at once.

use aloft_auth::{AuthUser, Principal};
use aloft_core::ApiError;
use aloft_http::{
    Query, Reply,
    openapi::{ErrorBody, InvalidQuery, SignedIn},
};
use aloft_store::{BillingChange, Payer, is_active_subscription, is_paid_status};
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
    let account = account(&state, &principal, Access::Read).await?;
    Ok(Reply::ok(BillingStatus {
        has_active_subscription: account.has_active_subscription(),
        current_period_end: account.period_end.and_then(iso),
        plan: account.plan,
        status: account.status,
        cancel_at_period_end: account.cancel_at_period_end,
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
        (status = 403, description = "In an organization: neither its owner nor an admin", body = ErrorBody),
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
    let account = account(&state, &principal, Access::Manage).await?;
    let path = subscription_path(&account)?;
    let subscription: Subscription = if query.immediate {
        state.stripe.delete(&path).await?
    } else {
        let form = Form::new().with("cancel_at_period_end", "true");
        state
            .stripe
            .post(&path, &form, &request_key("cancel"))
            .await?
    };
    store(&state, &account.payer, &subscription).await?;
    let message = if query.immediate {
        "Subscription canceled"
    } else {
        "Subscription will cancel at the end of the billing period"
    };
    tracing::info!(
        billing.payer = account.payer.id(),
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
        (status = 403, description = "In an organization: neither its owner nor an admin", body = ErrorBody),
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
    let account = account(&state, &principal, Access::Manage).await?;
    let path = subscription_path(&account)?;
    let form = Form::new().with("cancel_at_period_end", "false");
    let subscription: Subscription = state
        .stripe
        .post(&path, &form, &request_key("resume"))
        .await?;
    let change = store(&state, &account.payer, &subscription).await?;
    tracing::info!(billing.payer = account.payer.id(), "subscription resumed");
    Ok(Reply::ok(Resumed {
        message: "Subscription resumed".into(),
        status: subscription.status,
        plan: change.plan.unwrap_or(account.plan),
    }))
}

/// The subscription the caller's tenant is billed by: their own in their personal
/// tenant, the organization's in one (docs/api.md, "Organizations").
pub(crate) struct Account {
    pub payer: Payer,
    pub plan: String,
    pub status: Option<String>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    /// For a new Stripe customer: the caller's email, and the user's or organization's
    /// name.
    pub email: Option<String>,
    pub name: Option<String>,
}

impl Account {
    pub fn has_active_subscription(&self) -> bool {
        is_active_subscription(&self.plan, self.status.as_deref())
    }
}

/// What the caller does with the account: every member reads an organization's billing;
/// only its owner and admins change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Manage,
}

/// The caller's tenant's [`Account`]; 404 when its record is gone.
pub(crate) async fn account(
    state: &AppState,
    principal: &Principal,
    access: Access,
) -> Result<Account, ApiError> {
    let Some(role) = principal.membership else {
        let user = state
            .users
            .get(&principal.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("User", principal.user_id.clone()))?;
        return Ok(Account {
            payer: Payer::User(user.id),
            plan: user.subscription_plan,
            status: user.subscription_status,
            period_end: user.subscription_period_end,
            cancel_at_period_end: user.cancel_at_period_end,
            subscription_id: user.subscription_id,
            customer_id: user.stripe_customer_id,
            email: (!user.email.is_empty()).then_some(user.email),
            name: user.full_name,
        });
    };
    if access == Access::Manage && !role.manages() {
        return Err(ApiError::Authorization(
            "Only the organization's owner or an admin manages its billing".into(),
        ));
    }
    let tenant = &principal.tenant_id;
    let organization = state
        .organizations
        .get(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("Organization", tenant.as_str()))?;
    Ok(Account {
        payer: Payer::Organization(tenant.clone()),
        plan: organization.subscription_plan,
        status: organization.subscription_status,
        period_end: organization.subscription_period_end,
        cancel_at_period_end: organization.cancel_at_period_end,
        subscription_id: organization.subscription_id,
        customer_id: organization.stripe_customer_id,
        email: principal.email.clone(),
        name: Some(organization.name),
    })
}

/// `/v1/subscriptions/<id>` of the account's active subscription; 404 without one.
fn subscription_path(account: &Account) -> Result<String, ApiError> {
    match &account.subscription_id {
        Some(id) if account.has_active_subscription() => {
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
    payer: &Payer,
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
    let now = aloft_core::timestamp::now();
    match payer {
        Payer::User(id) => {
            state
                .users
                .apply_billing(id, &change, event_at, &now)
                .await?
        }
        Payer::Organization(tenant) => {
            (state.organizations)
                .apply_billing(tenant, &change, event_at, &now)
                .await?
        }
    };
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
        let mut account = Account {
            payer: Payer::User("u1".into()),
            plan: "free".into(),
            status: Some("canceled".into()),
            period_end: None,
            cancel_at_period_end: false,
            subscription_id: Some("sub_1".into()),
            customer_id: None,
            email: None,
            name: None,
        };
        assert!(subscription_path(&account).is_err());
        account.plan = "pro".into();
        account.status = Some("active".into());
        assert_eq!(
            subscription_path(&account).unwrap(),
            "/v1/subscriptions/sub_1"
        );
    }
}
