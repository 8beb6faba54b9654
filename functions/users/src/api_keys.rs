//! `GET/POST /app/api-keys`, `DELETE /app/api-keys/{id}`: keys for service accounts.
//! The secret is returned once, at creation; the table keeps only its hash. A key acts as
//! its owner is now, narrowed by its scopes, until it expires (docs/api.md). A key belongs
//! to the tenant it was made in: made in an organization, it acts there with its owner's
//! role there, and stops when they leave.

use aloft_auth::{AuthUser, PersonUser, Role, Scope, new_api_key};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_store::{ApiKeyRecord, CreateApiKeyOutcome, MAX_API_KEYS, StoreError};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use crate::AppState;

/// Characters of the key shown in lists.
const PREFIX_CHARS: usize = 12;

/// Longest a key may live: a year.
const MAX_LIFETIME: Duration = Duration::days(366);

/// `POST /app/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// What the key is for; 1–100 characters, not all spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// What the key may do; default `["read", "write"]`. `admin` only for an admin.
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
    /// RFC 3339, in the future and at most a year ahead; the key is refused after.
    /// Absent: the key lives until deleted.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// An API key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    /// When the key stops working; `null`: never.
    pub expires_at: Option<String>,
    /// The last minute the key was used in; `null`: never.
    pub last_used_at: Option<String>,
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
            scopes: record
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            created_at: record.created_at.clone(),
            expires_at: record.expires_at.clone(),
            last_used_at: record.last_used_at.clone(),
        }
    }
}

/// List the caller's API keys in the tenant they act in.
///
/// All of them, because a user holds at most 100 (a count kept in the same transaction
/// as every create and delete refuses the 101st), so the list is one small Query and
/// needs no paging.
#[utoipa::path(
    get,
    path = "/app/api-keys",
    tag = "API keys",
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
        items: records
            .iter()
            .filter(|key| key.tenant_id == principal.tenant_id.as_str())
            .map(ApiKeyView::from)
            .collect(),
    }))
}

/// Create an API key that acts as the caller (as they are at each use), narrowed by its
/// scopes, in the tenant the caller acts in: in an organization, with the caller's role
/// there as it is at each use, until they leave it. Only a person signed in with their own token may: not another key, not an
/// impersonation token.
#[utoipa::path(
    post,
    path = "/app/api-keys",
    tag = "API keys",
    security(("BearerJWT" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        SignedIn, JsonBody,
        (status = 201, description = "The key, with its secret shown this once", body = CreatedApiKey,
            links(("DeleteApiKey" = (operation_id = "delete_api_key", parameters(("id" = "$response.body#/id")))))),
        (status = 403, description = "Called with an API key or an impersonation token, or the `admin` scope asked by a non-admin", body = ErrorBody),
        (status = 409, description = "The caller has 100 API keys already, or their account changed meanwhile", body = ErrorBody),
        (status = 422, description = "`name`, `scopes` or `expires_at` breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    Json(body): Json<CreateApiKeyRequest>,
) -> Result<Reply<CreatedApiKey>, ApiError> {
    let name = body.name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::validation(
            "name",
            "Name must be 1 to 100 characters",
        ));
    }
    let mut scopes = body
        .scopes
        .unwrap_or_else(|| vec![Scope::Read, Scope::Write]);
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes",
            "Give the key at least one scope",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|raw| parse_expiry(raw, now))
        .transpose()?;
    // The owner as they are now (the token's claims may be minutes old).
    let owner = state
        .users
        .get(&principal.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(|| ApiError::Authorization("This account is inactive".into()))?;
    if scopes.contains(&Scope::Admin) && Role::parse(&owner.role) < Role::Admin {
        return Err(ApiError::Authorization(
            "Only an admin may create a key with the admin scope".into(),
        ));
    }
    // In an organization: the caller's role there as it is now (404 once they left),
    // and the organization's plan.
    let (tenant_id, member_role, plan) = match principal.membership {
        None => (
            owner.tenant_id.clone(),
            None,
            owner.subscription_plan.clone(),
        ),
        Some(_) => {
            let tenant = &principal.tenant_id;
            let gone = || ApiError::not_found("Organization", tenant.as_str());
            let (member, organization) = tokio::join!(
                state.organizations.membership(tenant, &owner.id),
                state.organizations.get(tenant)
            );
            let (member, organization) =
                (member?.ok_or_else(gone)?, organization?.ok_or_else(gone)?);
            let role = member.role.as_str().to_owned();
            (
                tenant.as_str().to_owned(),
                Some(role),
                organization.subscription_plan,
            )
        }
    };
    let (id, secret, secret_hash) = new_api_key().map_err(ApiError::internal)?;
    let record = ApiKeyRecord {
        id,
        user_id: owner.id.clone(),
        tenant_id,
        member_role,
        role: owner.role.clone(),
        plan,
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_at,
        last_used_at: None,
        name,
        prefix: secret.chars().take(PREFIX_CHARS).collect(),
        secret_hash,
        created_at: aloft_core::timestamp::format(now),
        disabled: false,
    };
    match state.api_keys.create(&record).await? {
        CreateApiKeyOutcome::Created => {}
        CreateApiKeyOutcome::Full => {
            return Err(ApiError::Conflict(
                format!("A user can have at most {MAX_API_KEYS} API keys; delete one first").into(),
            ));
        }
        CreateApiKeyOutcome::OwnerChanged => {
            return Err(ApiError::Conflict(
                "Your account changed while the key was being made; try again".into(),
            ));
        }
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

/// An `expires_at` in the future and at most a year ahead, as RFC 3339 UTC.
fn parse_expiry(raw: &str, now: OffsetDateTime) -> Result<String, ApiError> {
    let invalid = |message: &'static str| ApiError::validation("expires_at", message);
    let at = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| invalid("expires_at must be an RFC 3339 date-time"))?;
    if at <= now {
        return Err(invalid("expires_at must be in the future"));
    }
    if at > now + MAX_LIFETIME {
        return Err(invalid("expires_at must be at most a year ahead"));
    }
    Ok(aloft_core::timestamp::format(at))
}

/// Delete one of the caller's API keys; it stops working at once.
#[utoipa::path(
    delete,
    path = "/app/api-keys/{id}",
    tag = "API keys",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_in_the_future_and_within_a_year() {
        let now = OffsetDateTime::parse("2026-01-01T00:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse_expiry("2026-06-01T12:00:00+02:00", now).unwrap(),
            "2026-06-01T10:00:00Z"
        );
        for raw in [
            "2025-12-31T23:59:59Z",
            "2026-01-01T00:00:00Z",
            "2027-01-03T00:00:00Z",
            "tomorrow",
        ] {
            assert!(
                matches!(parse_expiry(raw, now), Err(ApiError::Validation { .. })),
                "{raw}"
            );
        }
    }
}
