//! `webhooks`: provider webhooks in, subscriptions out.
//!
//! - `POST /public/webhooks/{provider}` (also on the function's own URL): verifies the
//!   provider's signature scheme, records the event id once, queues it for
//!   `webhook-worker` and answers at once. A duplicate is acknowledged, not queued again.
//!   The guard counts it per client IP and per provider first, and an App Store
//!   notification's shape is checked ([`app_store`]) before any certificate work.
//! - `/app/webhook-subscriptions`: the tenant's outgoing webhooks — create (the signing
//!   secret is shown once), list, delete, and each one's deliveries.

mod app_store;
mod inbound;
mod subscriptions;

use std::sync::Arc;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_inbound::{InboundConfig, Verifier};
use aloft_queue::{Producer, QueueName, QueueUrls, TargetPolicy};
use aloft_store::{AwsClients, JobRepo, Table, WebhookRepo};
use axum::{
    Router,
    routing::{delete, get, post},
};
use utoipa::OpenApi;

/// What the webhooks function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub verifier: Arc<Verifier>,
    /// The app App Store notifications must be for, when set: checked before their
    /// certificate chains too.
    pub apple_bundle_id: Option<String>,
    pub webhooks: WebhookRepo,
    pub producer: Producer,
    pub targets: TargetPolicy,
}

impl AppParts for Webhooks {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Webhooks])?;
        let inbound = InboundConfig::from_env(env)?;
        let apple_bundle_id = inbound.apple.as_ref().and_then(|a| a.bundle_id.clone());
        Ok(Self {
            verifier: Arc::new(Verifier::new(inbound)?),
            apple_bundle_id,
            webhooks: WebhookRepo::new(table.clone()),
            producer: Producer::new(aws, JobRepo::new(table.clone()), urls),
            targets: TargetPolicy::from_env(env)?,
        })
    }
}

/// The function's state: the guard and [`Webhooks`].
pub type AppState = App<Webhooks>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route(
            "/public/webhooks/{provider}",
            post(inbound::receive_webhook),
        )
        .route(
            "/app/webhook-subscriptions",
            get(subscriptions::list_subscriptions).post(subscriptions::create_subscription),
        )
        .route(
            "/app/webhook-subscriptions/{id}",
            delete(subscriptions::delete_subscription),
        )
        .route(
            "/app/webhook-subscriptions/{id}/deliveries",
            get(subscriptions::list_deliveries),
        );
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(WebhooksApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        inbound::receive_webhook,
        subscriptions::list_subscriptions,
        subscriptions::create_subscription,
        subscriptions::delete_subscription,
        subscriptions::list_deliveries
    ),
    tags(
        (name = "Webhooks", description = "Signed provider webhooks (Stripe, Clerk, Supabase, Apple, Google)"),
        (name = "Webhook subscriptions", description = "The tenant's outgoing, signed webhooks")
    )
)]
struct WebhooksApi;
