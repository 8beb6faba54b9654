//! `/app/webhook-subscriptions`: the tenant's outgoing webhooks. A subscription names a
//! URL and the events it wants; the signing secret (the caller's own, or one made here)
//! is returned once, at creation, and never logged.
//! Deliveries (`…/{id}/deliveries`) show every attempt's outcome, dead ones included.

use aloft_auth::{AuthUser, PersonUser, Principal, opaque::random_secret};
use aloft_core::{ApiError, Page, PageParams};
use aloft_http::{
    Json, Paging, Query, Reply,
    openapi::{ErrorBody, InvalidQuery, JsonBody, SignedIn},
};
use aloft_queue::Event;
use aloft_store::{DeliveryRecord, SubscriptionRecord};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;

/// Subscriptions per tenant: fan-out reads them all for every event, and the list route
/// returns them whole (no paging) because of this cap.
const MAX_SUBSCRIPTIONS: usize = 20;

/// `POST /app/webhook-subscriptions`.
#[derive(Deserialize, ToSchema)]
pub struct CreateSubscription {
    /// Where deliveries are POSTed; `https` to a public host.
    #[schema(pattern = "^https://")]
    pub url: String,
    /// Event names, e.g. `contact.submitted` (operator events need the admin role).
    #[schema(min_items = 1)]
    pub events: Vec<String>,
    /// The signing secret to use, when the receiver already has one: 32–128 printable
    /// ASCII characters, no spaces. Stored and used as given. Absent, one is made.
    #[schema(min_length = 32, max_length = 128, pattern = "^[!-~]{32,128}$")]
    pub secret: Option<String>,
}

/// The secret stays out of any debug output.
impl std::fmt::Debug for CreateSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateSubscription")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Bounds of a caller's own signing secret.
const SECRET_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

/// The caller's own signing secret, as given, or a new `whsec_` one.
fn signing_secret(chosen: Option<String>) -> Result<String, ApiError> {
    let Some(secret) = chosen else {
        return Ok(format!(
            "whsec_{}",
            random_secret().map_err(ApiError::internal)?
        ));
    };
    // Graphic ASCII is one byte a character, so the byte length is the character count.
    if secret.bytes().all(|b| b.is_ascii_graphic()) && SECRET_CHARS.contains(&secret.len()) {
        Ok(secret)
    } else {
        Err(ApiError::validation(
            "secret",
            "secret must be 32 to 128 printable ASCII characters, without spaces",
        ))
    }
}

/// A subscription as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
}

/// A new subscription: the only response that carries the secret.
#[derive(Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Verifies `X-Webhook-Signature` (`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`).
    /// Shown once; store it now.
    pub secret: String,
}

impl std::fmt::Debug for CreatedSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSubscription")
            .field("subscription", &self.subscription)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionView>,
}

/// One event sent to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also sent as `X-Webhook-Id`: the same on every retry, for deduplication.
    pub id: String,
    pub event: String,
    /// `pending`, `succeeded`, `failed` (retrying with backoff), `dead` (gave up) or
    /// `cancelled` (an admin cancelled its job before it was sent).
    pub status: String,
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub response_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SubscriptionRecord> for SubscriptionView {
    fn from(record: &SubscriptionRecord) -> Self {
        Self {
            id: record.id.clone(),
            url: record.url.clone(),
            events: record.events.clone(),
            created_at: record.created_at.clone(),
        }
    }
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(record: DeliveryRecord) -> Self {
        Self {
            id: record.id,
            event: record.event,
            status: record.status,
            attempts: record.attempts,
            response_status: record.response_status,
            last_error: record.last_error,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// List the tenant's webhook subscriptions.
#[utoipa::path(
    get,
    path = "/app/webhook-subscriptions",
    tag = "Webhook subscriptions",
    responses(
        SignedIn,
        (status = 200, description = "The tenant's subscriptions, oldest first", body = SubscriptionList,
            links(("ListDeliveries" = (operation_id = "list_deliveries", parameters(("id" = "$response.body#/items/0/id")))))),
    )
)]
pub(crate) async fn list_subscriptions(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<SubscriptionList>, ApiError> {
    let records = state.webhooks.subscriptions(&principal.tenant_id).await?;
    Ok(Reply::ok(SubscriptionList {
        items: records.iter().map(SubscriptionView::from).collect(),
    }))
}

/// Subscribe a URL to events. The subscription's signing secret is a credential: only a
/// person signed in with their own token may mint one (not an API key, not an
/// impersonation token).
#[utoipa::path(
    post,
    path = "/app/webhook-subscriptions",
    tag = "Webhook subscriptions",
    security(("BearerJWT" = [])),
    request_body = CreateSubscription,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "Created; the secret is shown this once", body = CreatedSubscription,
            links(
                ("ListDeliveries" = (operation_id = "list_deliveries", parameters(("id" = "$response.body#/id")))),
                ("DeleteSubscription" = (operation_id = "delete_subscription", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 403, description = "An operator event and the caller is not an admin, or an API key or impersonation token", body = ErrorBody),
        (status = 409, description = "The tenant has the maximum number of subscriptions", body = ErrorBody),
        (status = 422, description = "A field is missing, the URL is not a public https URL, an event is unknown, or the `secret` given is not 32–128 printable ASCII characters without spaces; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn create_subscription(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    Json(body): Json<CreateSubscription>,
) -> Result<Reply<CreatedSubscription>, ApiError> {
    owner_or_admin(&principal)?;
    state
        .targets
        .check_url(body.url.trim())
        .map_err(|reason| ApiError::validation("url", format!("url {reason}")))?;
    let events = parse_events(&body.events)?;
    let secret = signing_secret(body.secret)?;
    if events.iter().any(|e| e.operator_only()) && !principal.is_admin() {
        return Err(ApiError::Authorization(
            "Operator events need the admin role".into(),
        ));
    }
    if state
        .webhooks
        .subscriptions(&principal.tenant_id)
        .await?
        .len()
        >= MAX_SUBSCRIPTIONS
    {
        return Err(ApiError::Conflict(
            format!("A tenant can have at most {MAX_SUBSCRIPTIONS} subscriptions").into(),
        ));
    }
    let record = SubscriptionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: principal.tenant_id.as_str().to_owned(),
        owner_id: principal.user_id.clone(),
        url: body.url.trim().to_owned(),
        events: events.iter().map(|e| e.name().to_owned()).collect(),
        secret: secret.clone(),
        created_at: aloft_core::timestamp::now(),
    };
    let operator = events.iter().any(|e| e.operator_only());
    state
        .webhooks
        .create_subscription(&record, operator)
        .await?;
    tracing::info!(
        subscription.id = record.id.as_str(),
        user.id = principal.user_id.as_str(),
        "webhook subscription created"
    );
    Ok(Reply::created(CreatedSubscription {
        subscription: SubscriptionView::from(&record),
        secret,
    }))
}

/// Known, distinct event names, at least one.
fn parse_events(raw: &[String]) -> Result<Vec<Event>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::validation("events", "Name at least one event"));
    }
    let mut events = Vec::new();
    for name in raw {
        let event = Event::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
            ApiError::validation(
                "events",
                format!("Unknown event '{name}'; known: {}", known.join(", ")),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

/// Delete a subscription; nothing more is sent to it.
#[utoipa::path(
    delete,
    path = "/app/webhook-subscriptions/{id}",
    tag = "Webhook subscriptions",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription in the caller's tenant", body = ErrorBody),
    )
)]
pub(crate) async fn delete_subscription(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owner_or_admin(&principal)?;
    if !state
        .webhooks
        .delete_subscription(&principal.tenant_id, &id)
        .await?
    {
        return Err(ApiError::not_found("Webhook subscription", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `?status=` of the delivery list (its paging is [`Paging`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// `pending`, `succeeded`, `failed`, `dead` or `cancelled`; all when absent. With a status, only
    /// that status's deliveries are read.
    pub status: Option<String>,
}

const DELIVERY_STATUSES: [&str; 5] = ["pending", "succeeded", "failed", "dead", "cancelled"];

/// A subscription's deliveries, newest first.
///
/// A page at a time: all of them, or those in one `status` (read from the status
/// index). A page reads `limit + 1` deliveries (by `cursor`; `skip + limit + 1` by
/// `skip`, at most 1,000); `total` counts at most 1,000 (`total_exact: false` past
/// that).
#[utoipa::path(
    get,
    path = "/app/webhook-subscriptions/{id}/deliveries",
    tag = "Webhook subscriptions",
    params(("id" = String, Path, description = "The subscription's id"), DeliveryFilter, PageParams),
    responses(
        SignedIn, InvalidQuery,
        (status = 200, description = "Deliveries, newest first; `next_cursor` continues the list. \
            Reads are bounded: a `skip` past 1,000 sets `truncated`, and a `total` past \
            1,000 is a lower bound (`total_exact: false`)", body = Page<DeliveryView>),
        (status = 404, description = "No such subscription in the caller's tenant", body = ErrorBody),
        (status = 422, description = "Unknown status, bad skip or limit, or a cursor of another list", body = ErrorBody),
    )
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    Query(filter): Query<DeliveryFilter>,
    paging: Paging,
) -> Result<Reply<Page<DeliveryView>>, ApiError> {
    let status = filter.status.as_deref();
    if status.is_some_and(|s| !DELIVERY_STATUSES.contains(&s)) {
        return Err(ApiError::validation(
            "status",
            "status must be pending, succeeded, failed, dead or cancelled",
        ));
    }
    let tenant = &principal.tenant_id;
    let scope = format!(
        "deliveries:{}:{id}:{}",
        tenant.as_str(),
        status.unwrap_or("all")
    );
    let request = paging.parse(&scope)?;
    if state.webhooks.subscription(tenant, &id).await?.is_none() {
        return Err(ApiError::not_found("Webhook subscription", id));
    }
    let slice = state
        .webhooks
        .deliveries(tenant, &id, status, &request)
        .await?;
    Ok(Reply::ok(Page::from_slice(
        slice,
        &request,
        DeliveryView::from,
    )))
}

/// In an organization, only its owner and admins manage its webhook subscriptions.
fn owner_or_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.manages_tenant() {
        Ok(())
    } else {
        Err(ApiError::Authorization(
            "Only the organization's owner or an admin manages its webhook subscriptions".into(),
        ))
    }
}
