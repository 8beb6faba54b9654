//! `contact`: the public contact form.
//!
//! - `POST /public/contact` checks the fields (reference rules, `CONTACT_REQUIRE_*`),
//!   gives the submission a `CNT-XXXXXXXX` reference and queues its work: the admin
//!   notification (`ADMIN_EMAIL`), the sender's confirmation
//!   (`CONTACT_SEND_CONFIRMATION`), the signed CRM webhook (`CONTACT_WEBHOOK_URL`) and
//!   the `contact.submitted` event for webhook subscribers. 5 per hour per IP (guard).
//! - `GET /public/contact/status` shows the caller's remaining submissions and the form's
//!   settings.

mod handlers;

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_queue::{Producer, Publisher, QueueName, QueueUrls};
use aloft_store::{AwsClients, JobRepo, Table};
use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

/// `CONTACT_*` and `ADMIN_EMAIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSettings {
    pub require_subject: bool,
    pub require_phone: bool,
    pub send_confirmation: bool,
    pub webhook_url: Option<String>,
    pub admin_email: Option<String>,
}

impl ContactSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            require_subject: env.parse_or("CONTACT_REQUIRE_SUBJECT", false)?,
            require_phone: env.parse_or("CONTACT_REQUIRE_PHONE", false)?,
            send_confirmation: env.parse_or("CONTACT_SEND_CONFIRMATION", true)?,
            webhook_url: env.optional("CONTACT_WEBHOOK_URL"),
            admin_email: env.optional("ADMIN_EMAIL"),
        })
    }
}

/// What the contact function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Contact {
    pub settings: ContactSettings,
    pub producer: Producer,
    pub publisher: Publisher,
}

impl AppParts for Contact {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs])?;
        let producer = Producer::new(aws, JobRepo::new(table.clone()), urls);
        Ok(Self {
            settings: ContactSettings::from_env(env)?,
            publisher: Publisher::new(producer.clone()),
            producer,
        })
    }
}

/// The function's state: the guard and [`Contact`].
pub type AppState = App<Contact>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let routes = Router::new()
        .route("/public/contact", post(handlers::submit_contact))
        .route("/public/contact/status", get(handlers::contact_status));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(ContactApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::submit_contact, handlers::contact_status),
    tags((name = "Contact", description = "The public contact form"))
)]
struct ContactApi;
