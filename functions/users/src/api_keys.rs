//! `GET/POST /app/api-keys`, `DELETE /app/api-keys/{id}`: keys for service accounts.
//! The secret is returned once, at creation; the table keeps only its hash.

use aloft_auth::{AuthUser, new_api_key};
use aloft_http::{
    ApiError, Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_store::{ApiKeyRecord, CreateApiKeyOutcome, MAX_API_KEYS, StoreError};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;

/// Characters of the key shown in lists.
const PREFIX_CHARS: usize = 12;

/// `POST /app/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// What the key is for; 1–100 characters, not all spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
}

/// An API key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
}

/// A new key: the only response that carries the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Send as `X-API-Key`. Shown once; store it now.
    pub secret: String,
}

/// The caller's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyView>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(record: &ApiKeyRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            prefix: record.prefix.clone(),
            created_at: record.created_at.clone(),
        }
    }
}

/// List the caller's API keys.
///
/// All of them, because a user holds at most 100 (a count kept in the same transaction
/// as every create and delete refuses the 101st), so the list is one small Query and
/// needs no paging.
#[utoipa::path(
    get,
    path = "/app/api-keys",
    tag = "API keys",
    security(("BearerJWT" = []), ("ApiKey" = [])),
    responses(
        SignedIn,
        (status = 200, description = "The caller's keys, oldest first (at most 100)", body = ApiKeyList),
    )
)]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<ApiKeyList>, ApiError> {
    let records = state.api_keys.list_for_user(&principal.user_id).await?;
    Ok(Reply::ok(ApiKeyList {
        items: records.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Create an API key that acts as the caller.
#[utoipa::path(
    post,
    path = "/app/api-keys",
    tag = "API keys",
    security(("BearerJWT" = []), ("ApiKey" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "The key, with its secret shown this once", body = CreatedApiKey,
            links(("DeleteApiKey" = (operation_id = "delete_api_key", parameters(("id" = "$response.body#/id")))))),
        (status = 409, description = "The caller has 100 API keys already", body = ErrorBody),
        (status = 422, description = "`name` is missing, empty or too long", body = ErrorBody),
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Json(body): Json<CreateApiKeyRequest>,
) -> Result<Reply<CreatedApiKey>, ApiError> {
    let name = body.name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::validation(
            "name",
            "Name must be 1 to 100 characters",
        ));
    }
    let (id, secret, secret_hash) = new_api_key().map_err(ApiError::internal)?;
    let record = ApiKeyRecord {
        id,
        user_id: principal.user_id.clone(),
        tenant_id: principal.tenant_id.as_str().to_owned(),
        role: principal.role.as_str().to_owned(),
        plan: principal.plan.as_str().to_owned(),
        name,
        prefix: secret.chars().take(PREFIX_CHARS).collect(),
        secret_hash,
        created_at: aloft_http::timestamp::format(OffsetDateTime::now_utc()),
        disabled: false,
    };
    if state.api_keys.create(&record).await? == CreateApiKeyOutcome::Full {
        return Err(ApiError::Conflict(
            format!("A user can have at most {MAX_API_KEYS} API keys; delete one first").into(),
        ));
    }
    tracing::info!(
        user.id = principal.user_id.as_str(),
        api_key.id = record.id.as_str(),
        "API key created"
    );
    Ok(Reply::created(CreatedApiKey {
        key: ApiKeyView::from(&record),
        secret,
    }))
}

/// Delete one of the caller's API keys; it stops working at once.
#[utoipa::path(
    delete,
    path = "/app/api-keys/{id}",
    tag = "API keys",
    security(("BearerJWT" = []), ("ApiKey" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key of the caller's", body = ErrorBody),
    )
)]
pub(crate) async fn delete_api_key(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state
        .api_keys
        .delete_owned(&id, &principal.user_id)
        .await
        .map_err(|e: StoreError| ApiError::from(e))?;
    if !deleted {
        return Err(ApiError::not_found("API key", id));
    }
    Ok(StatusCode::NO_CONTENT)
}
