//! The Stripe-hosted pages: `checkout` (subscribe; creates the Stripe customer on first
//! use) and `portal` (manage payment methods and the subscription).

use aloft_auth::AuthUser;
use aloft_core::ApiError;
use aloft_http::{
    Json, Query, Reply,
    openapi::{ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_store::Payer;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState, Period,
    redirect::redirect_url,
    stripe::{
        Form, StripeError,
        objects::{CheckoutSession, Customer, PortalSession},
    },
    subscription::{Access, Account, account, request_key},
};

/// `POST /app/billing/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    /// `monthly` or `yearly`.
    #[serde(default)]
    #[schema(required = true, pattern = "^(monthly|yearly)$")]
    pub plan: String,
    /// Where Stripe sends the user after paying: absolute `https` (locally also
    /// `http://localhost`). May hold Stripe's `{CHECKOUT_SESSION_ID}`.
    #[serde(default)]
    #[schema(required = true, max_length = 2048, pattern = "^https://")]
    pub success_url: String,
    /// Where Stripe sends the user who gives up; same rules.
    #[serde(default)]
    #[schema(required = true, max_length = 2048, pattern = "^https://")]
    pub cancel_url: String,
}

/// A Stripe Checkout page to send the user to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutCreated {
    /// `cs_…`.
    pub session_id: String,
    pub url: String,
}

/// `?return_url=` of `portal`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortalQuery {
    /// Where the portal's "back" link leads: absolute `https` (locally also
    /// `http://localhost`); Stripe's configured default when absent.
    #[param(max_length = 2048, pattern = "^https://")]
    pub return_url: Option<String>,
}

/// A Stripe customer portal page to send the user to.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalUrl {
    pub url: String,
}

/// Start a subscription: a Stripe Checkout session for the `monthly` or `yearly` price.
#[utoipa::path(
    post,
    path = "/app/billing/checkout",
    tag = "Billing",
    request_body = CheckoutRequest,
    responses(
        SignedIn, JsonBody,
        (status = 403, description = "In an organization: neither its owner nor an admin", body = ErrorBody),
        (status = 200, description = "The checkout page", body = CheckoutCreated),
        (status = 400, description = "The body is not JSON or is malformed, or Stripe refused the request (its message)", body = ErrorBody),
        (status = 409, description = "The caller already has an active subscription", body = ErrorBody),
        (status = 422, description = "`plan` is not monthly or yearly, or a URL is not an absolute https URL; `details.field` names it", body = ErrorBody),
        (status = 503, description = "Stripe or the plan's price is not configured (`details.configure`), or Stripe is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn create_checkout(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<CheckoutRequest>,
) -> Result<Reply<CheckoutCreated>, ApiError> {
    state.stripe.require_key()?;
    let settings = &state.settings;
    let period = Period::parse(body.plan.trim())
        .ok_or_else(|| ApiError::validation("plan", "plan must be monthly or yearly"))?;
    let success_url = redirect_url("success_url", &body.success_url, settings.stage)?;
    let cancel_url = redirect_url("cancel_url", &body.cancel_url, settings.stage)?;
    let price = settings.price(period)?;
    let account = account(&state, &principal, Access::Manage).await?;
    if account.has_active_subscription() {
        return Err(ApiError::Conflict(
            "You already have an active subscription; manage it in the billing portal".into(),
        ));
    }
    let customer = customer_of(&state, &account).await?;
    let mut form = Form::new()
        .with("mode", "subscription")
        .with("customer", customer.as_str())
        .with("line_items[0][price]", price)
        .with("line_items[0][quantity]", "1")
        .with("success_url", success_url)
        .with("cancel_url", cancel_url)
        .with("client_reference_id", principal.user_id.as_str())
        .with("metadata[user_id]", principal.user_id.as_str())
        // The session carries no price: the webhook worker takes the plan from here.
        .with("metadata[plan]", settings.plan_of(Some(price)))
        .with(
            "subscription_data[metadata][user_id]",
            principal.user_id.as_str(),
        );
    // An organization's checkout: the webhook worker bills the organization.
    if let Payer::Organization(tenant) = &account.payer {
        form = form
            .with("metadata[organization_id]", tenant.as_str())
            .with(
                "subscription_data[metadata][organization_id]",
                tenant.as_str(),
            );
    }
    let session: CheckoutSession = state
        .stripe
        .post("/v1/checkout/sessions", &form, &request_key("checkout"))
        .await?;
    let url = session.url.ok_or_else(|| {
        StripeError::Unavailable(format!("checkout session {} has no url", session.id))
    })?;
    tracing::info!(
        billing.payer = account.payer.id(),
        billing.session_id = session.id.as_str(),
        "checkout session created"
    );
    Ok(Reply::ok(CheckoutCreated {
        session_id: session.id,
        url,
    }))
}

/// The payer's Stripe customer, created and linked on first use. The create's
/// `Idempotency-Key` is the payer's, so two first checkouts racing each other get one
/// customer from Stripe (the second waits on `idempotency_key_in_use`, then gets the
/// first's answer); both then store the same link.
async fn customer_of(state: &AppState, account: &Account) -> Result<String, ApiError> {
    if let Some(customer) = &account.customer_id {
        return Ok(customer.clone());
    }
    let mut form = match &account.payer {
        Payer::User(id) => Form::new().with("metadata[user_id]", id.as_str()),
        Payer::Organization(tenant) => {
            Form::new().with("metadata[organization_id]", tenant.as_str())
        }
    };
    if let Some(email) = &account.email {
        form = form.with("email", email.as_str());
    }
    if let Some(name) = &account.name {
        form = form.with("name", name.as_str());
    }
    let key = format!("aloft-customer-{}", account.payer.id());
    let customer: Customer = state.stripe.post("/v1/customers", &form, &key).await?;
    state
        .users
        .link_customer("stripe", &customer.id, &account.payer)
        .await?;
    tracing::info!(
        billing.payer = account.payer.id(),
        billing.customer_id = customer.id.as_str(),
        "Stripe customer created"
    );
    Ok(customer.id)
}

/// Open the Stripe customer portal.
#[utoipa::path(
    get,
    path = "/app/billing/portal",
    tag = "Billing",
    params(PortalQuery),
    responses(
        SignedIn, InvalidQuery,
        (status = 403, description = "In an organization: neither its owner nor an admin", body = ErrorBody),
        (status = 200, description = "The portal page", body = PortalUrl),
        (status = 400, description = "Stripe refused the request (its message)", body = ErrorBody),
        (status = 404, description = "The caller has no Stripe customer yet (no checkout)", body = ErrorBody),
        (status = 422, description = "`return_url` is not an absolute https URL", body = ErrorBody),
        (status = 503, description = "Stripe is not configured (`details.configure`) or unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn billing_portal(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Query(query): Query<PortalQuery>,
) -> Result<Reply<PortalUrl>, ApiError> {
    state.stripe.require_key()?;
    let return_url = query
        .return_url
        .map(|url| redirect_url("return_url", &url, state.settings.stage))
        .transpose()?;
    let account = account(&state, &principal, Access::Manage).await?;
    let customer = account
        .customer_id
        .ok_or_else(|| ApiError::not_found("Billing customer", ""))?;
    let mut form = Form::new().with("customer", customer);
    if let Some(return_url) = return_url {
        form = form.with("return_url", return_url);
    }
    let session: PortalSession = state
        .stripe
        .post("/v1/billing_portal/sessions", &form, &request_key("portal"))
        .await?;
    Ok(Reply::ok(PortalUrl { url: session.url }))
}
