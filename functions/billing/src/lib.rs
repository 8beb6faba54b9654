//! `billing`: Stripe subscriptions under `/api/{v1,v2}/app/billing` — `status` (from
//! our stored state, no Stripe call), `checkout` (creates the Stripe customer on first
//! use), `portal`, `invoices`, `cancel` and `resume` — over a thin Stripe client.
//!
//! The webhook worker keeps the stored state from Stripe's events; `cancel` and
//! `resume` also store what Stripe answered at once, ordered like an event created
//! now, so `status` is right before the webhook arrives and an older event delivered
//! later cannot undo it. Settings: `STRIPE_SECRET_KEY` (without it the Stripe routes
//! answer 503 naming it), `STRIPE_API_BASE`, `STRIPE_PRICE_MONTHLY`/`_YEARLY`,
//! `STRIPE_PRICE_PLANS`, `STRIPE_*_TIMEOUT_SECONDS`.
//!
//! Tests: `cargo test -p fn-billing` against the emulator (`make emulator`) and the
//! testkit's fake Stripe.

mod checkout;
mod config;
mod invoices;
mod redirect;
pub mod stripe;
mod subscription;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{AwsClients, OrganizationRepo, Table, UserRepo};
use axum::{
    Router,
    routing::{get, post},
};
use std::sync::Arc;
use utoipa::OpenApi;

pub use config::{BillingSettings, Period};
pub use stripe::Stripe;

/// What the billing function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Billing {
    pub settings: Arc<BillingSettings>,
    pub stripe: Stripe,
    pub users: UserRepo,
    /// An organization's subscription is its own (docs/api.md, "Organizations").
    pub organizations: OrganizationRepo,
}

impl AppParts for Billing {
    fn build(env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let settings = BillingSettings::from_env(env)?;
        let stripe = Stripe::new(&settings.stripe);
        Ok(Self {
            settings: Arc::new(settings),
            stripe,
            users: UserRepo::new(table.clone()),
            organizations: OrganizationRepo::new(table.clone()),
        })
    }
}

/// The function's state: the guard and [`Billing`].
pub type AppState = App<Billing>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/app/billing/status", get(subscription::billing_status))
        .route("/app/billing/checkout", post(checkout::create_checkout))
        .route("/app/billing/portal", get(checkout::billing_portal))
        .route("/app/billing/invoices", get(invoices::list_invoices))
        .route(
            "/app/billing/cancel",
            post(subscription::cancel_subscription),
        )
        .route(
            "/app/billing/resume",
            post(subscription::resume_subscription),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(BillingApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        subscription::billing_status,
        checkout::create_checkout,
        checkout::billing_portal,
        invoices::list_invoices,
        subscription::cancel_subscription,
        subscription::resume_subscription
    ),
    tags((name = "Billing", description = "Stripe subscriptions: status, checkout, customer portal, invoices, cancel and resume"))
)]
struct BillingApi;
