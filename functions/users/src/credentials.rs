//! `/app/organizations/{id}/credentials`: an organization's own AI provider keys
//! (owner and admins). Write-only: a key is never returned, only its provider, last four
//! characters and when it was set. Stored encrypted with KMS (`aloft_store::
//! TenantCredentials`); the AI function calls that provider with it for the
//! organization's members.

use aloft_auth::{Audit, AuthUser};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_store::{CredentialRecord, TenantCredentials, TenantId};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AppState, organizations::managed};

/// The providers an organization may bring a key for.
const PROVIDERS: [&str; 3] = ["openai", "anthropic", "perplexity"];

/// `PUT …/credentials/{provider}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CredentialRequest {
    /// The provider's API key; 8–512 characters, no spaces.
    #[schema(min_length = 8, max_length = 512)]
    pub api_key: String,
}

/// A stored key: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub provider: String,
    /// The key's last four characters.
    pub last4: String,
    pub updated_at: String,
}

/// The organization's stored keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub items: Vec<CredentialView>,
}

impl From<CredentialRecord> for CredentialView {
    fn from(record: CredentialRecord) -> Self {
        Self {
            provider: record.provider,
            last4: record.last4,
            updated_at: record.updated_at,
        }
    }
}

/// The configured store, or 503 naming what to set.
fn store(state: &AppState) -> Result<&TenantCredentials, ApiError> {
    state
        .credentials
        .as_ref()
        .ok_or_else(|| ApiError::ServiceUnavailable {
            message: "Organization provider keys are not configured: set TENANT_CREDENTIALS_KEY_ID"
                .into(),
            details: Some(serde_json::json!({ "configure": ["TENANT_CREDENTIALS_KEY_ID"] })),
            retry_after: None,
        })
}

fn parse_provider(raw: &str) -> Result<&'static str, ApiError> {
    PROVIDERS.into_iter().find(|p| *p == raw).ok_or_else(|| {
        ApiError::validation(
            "provider",
            "provider must be openai, anthropic or perplexity",
        )
    })
}

/// The organization's provider keys, without the keys (owner or admin).
#[utoipa::path(
    get,
    path = "/app/organizations/{id}/credentials",
    tag = "Organizations",
    params(("id" = String, Path, description = "The organization's id")),
    responses(
        SignedIn,
        (status = 200, description = "Provider, last four characters, when set", body = CredentialList),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 503, description = "Not configured (`details.configure`)", body = ErrorBody),
    )
)]
pub(crate) async fn list_credentials(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Reply<CredentialList>, ApiError> {
    managed(&state, &principal, &id).await?;
    let records = store(&state)?.list(&TenantId::new(&id)).await?;
    Ok(Reply::ok(CredentialList {
        items: records.into_iter().map(CredentialView::from).collect(),
    }))
}

/// Store the organization's key for a provider, replacing any (owner or admin). AI calls
/// its members make then use it for that provider.
#[utoipa::path(
    put,
    path = "/app/organizations/{id}/credentials/{provider}",
    tag = "Organizations",
    params(
        ("id" = String, Path, description = "The organization's id"),
        ("provider" = String, Path, description = "`openai`, `anthropic` or `perplexity`"),
    ),
    request_body = CredentialRequest,
    responses(
        SignedIn, JsonBody,
        (status = 200, description = "Stored; the key is never shown again", body = CredentialView),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or the caller is not a member", body = ErrorBody),
        (status = 422, description = "Unknown provider, or a key that is not 8–512 characters without spaces", body = ErrorBody),
        (status = 503, description = "Not configured (`details.configure`), or KMS unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn put_credential(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path((id, provider)): Path<(String, String)>,
    Json(body): Json<CredentialRequest>,
) -> Result<Reply<CredentialView>, ApiError> {
    let provider = parse_provider(&provider)?;
    let api_key = body.api_key.trim();
    if !(8..=512).contains(&api_key.chars().count()) || api_key.chars().any(char::is_whitespace) {
        return Err(ApiError::validation(
            "api_key",
            "api_key must be 8 to 512 characters without spaces",
        ));
    }
    managed(&state, &principal, &id).await?;
    let tenant = TenantId::new(&id);
    let now = aloft_core::timestamp::now();
    let stored = store(&state)?.put(&tenant, provider, api_key, &now).await?;
    audit
        .in_organization(&tenant)
        .record(
            "credential.put",
            "credential",
            Some(provider),
            None,
            Some(serde_json::json!({"last4": stored.last4})),
        )
        .await;
    Ok(Reply::ok(stored.into()))
}

/// Delete the organization's key for a provider (owner or admin).
#[utoipa::path(
    delete,
    path = "/app/organizations/{id}/credentials/{provider}",
    tag = "Organizations",
    params(
        ("id" = String, Path, description = "The organization's id"),
        ("provider" = String, Path, description = "`openai`, `anthropic` or `perplexity`"),
    ),
    responses(
        SignedIn,
        (status = 204, description = "Deleted"),
        (status = 403, description = "Neither owner nor admin", body = ErrorBody),
        (status = 404, description = "No such organization, or no key for that provider", body = ErrorBody),
        (status = 422, description = "Unknown provider", body = ErrorBody),
        (status = 503, description = "Not configured (`details.configure`)", body = ErrorBody),
    )
)]
pub(crate) async fn delete_credential(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
    Path((id, provider)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let provider = parse_provider(&provider)?;
    managed(&state, &principal, &id).await?;
    let tenant = TenantId::new(&id);
    if !store(&state)?.delete(&tenant, provider).await? {
        return Err(ApiError::not_found("Credential", provider));
    }
    audit
        .in_organization(&tenant)
        .record(
            "credential.delete",
            "credential",
            Some(provider),
            None,
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
