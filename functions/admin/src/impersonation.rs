//! `POST /admin/impersonate/start` and `/stop`: an admin acts as a user with a
//! short-lived token carrying RFC 8693 `act: {"sub": <admin>}` and a `jti` whose session
//! `stop` revokes, closing the WebSocket connections opened with it. Admins cannot be
//! targets; impersonation tokens cannot use admin routes (the `AdminUser` extractor
//! refuses them); every request made with one is audited by the guard of whichever
//! function serves it. `GET /admin/impersonate/active` lists the sessions still running.

use aloft_auth::{AdminUser, Audit, AuthUser, Plan, Principal, Role};
use aloft_core::ApiError;
use aloft_http::{
    Json, Reply,
    openapi::{AdminOnly, ErrorBody, JsonBody, RateLimited},
};
use aloft_queue::Job;
use aloft_store::{ActiveImpersonation, ImpersonationSession, TenantId};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;

/// `POST /admin/impersonate/start`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartImpersonation {
    /// The user to act as; never an admin.
    pub user_id: String,
    /// Why (a support ticket, …): kept in the audit log.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonatedUser {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonationStarted {
    pub message: String,
    pub impersonated_user: ImpersonatedUser,
    /// A bearer token acting as the user, until `expires_at` or `stop`.
    pub token: String,
    /// ISO 8601, UTC.
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonationStopped {
    pub message: String,
}

/// An impersonation session that has neither ended nor been stopped.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveImpersonationView {
    /// The impersonation token's id (its `jti`; `token_id` in the audit log).
    pub token_id: String,
    /// The admin acting.
    pub admin_id: String,
    /// The user acted as.
    pub user_id: String,
    /// ISO 8601, UTC.
    pub started_at: String,
    /// ISO 8601, UTC.
    pub expires_at: String,
}

impl From<ActiveImpersonation> for ActiveImpersonationView {
    fn from(session: ActiveImpersonation) -> Self {
        Self {
            token_id: session.jti,
            admin_id: session.admin_id,
            user_id: session.user_id,
            started_at: iso8601(session.started_at),
            expires_at: iso8601(session.expires_at),
        }
    }
}

/// The active impersonation sessions, the latest to end first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveImpersonations {
    pub items: Vec<ActiveImpersonationView>,
}

/// Unix seconds as ISO 8601, UTC.
fn iso8601(unix: u64) -> String {
    let at = i64::try_from(unix)
        .ok()
        .and_then(|unix| time::OffsetDateTime::from_unix_timestamp(unix).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    aloft_core::timestamp::format(at)
}

/// Act as a user. An impersonation token is a credential: only an admin signed in with
/// their own token may start one (not an API key).
#[utoipa::path(
    post,
    path = "/admin/impersonate/start",
    tag = "Admin",
    security(("BearerJWT" = [])),
    request_body = StartImpersonation,
    responses(
        AdminOnly, JsonBody,
        (status = 200, description = "An impersonation token", body = ImpersonationStarted),
        (status = 403, description = "Not an admin, an API key or an impersonation token, or the target is an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user is deactivated", body = ErrorBody),
    )
)]
pub(crate) async fn start_impersonation(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    audit: Audit,
    Json(body): Json<StartImpersonation>,
) -> Result<Reply<ImpersonationStarted>, ApiError> {
    if !admin.is_person() {
        return Err(ApiError::Authorization(
            "An API key cannot start an impersonation".into(),
        ));
    }
    let target = state
        .users
        .get(&body.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User", body.user_id.clone()))?;
    if Role::parse(&target.role) != Role::User {
        return Err(ApiError::Authorization(
            "Admins and superadmins cannot be impersonated".into(),
        ));
    }
    if !target.is_active {
        return Err(ApiError::Conflict(
            "A deactivated user cannot be impersonated".into(),
        ));
    }
    let now = aloft_core::timestamp::unix_now();
    let ttl = state.impersonation_ttl;
    let jti = uuid::Uuid::new_v4().to_string();
    let session = ImpersonationSession {
        admin_id: admin.user_id.clone(),
        user_id: target.id.clone(),
        expires_at: now + ttl.as_secs(),
        revoked: false,
    };
    state.sessions.start(&jti, &session).await?;
    let principal = Principal {
        user_id: target.id.clone(),
        tenant_id: TenantId::new(target.tenant_id.clone()),
        membership: None,
        role: Role::User,
        plan: Plan::parse(&target.subscription_plan),
        email: Some(target.email.clone()),
        impersonator: Some(admin.user_id.clone()),
        token_id: Some(jti.clone()),
        credential: aloft_auth::Credential::SESSIONLESS,
    };
    let token = state
        .guard
        .authenticator()
        .jwt()
        .issue_with_ttl(&principal, now, ttl)
        .map_err(ApiError::internal)?;
    let expires_at = aloft_core::timestamp::format(
        time::OffsetDateTime::from_unix_timestamp(i64::try_from(session.expires_at).unwrap_or(0))
            .map_err(ApiError::internal)?,
    );
    let details = json!({"reason": body.reason, "token_id": jti, "expires_at": expires_at});
    audit
        .record(
            "impersonate.start",
            "user",
            Some(&target.id),
            None,
            Some(details),
        )
        .await;
    tracing::info!(
        admin.id = admin.user_id.as_str(),
        user.id = target.id.as_str(),
        "impersonation started"
    );
    Ok(Reply::ok(ImpersonationStarted {
        message: "Impersonation started".into(),
        impersonated_user: ImpersonatedUser {
            id: target.id,
            email: target.email,
            full_name: target.full_name,
        },
        token,
        expires_at,
    }))
}

/// Stop acting as the user: called with the impersonation token, which stops working.
#[utoipa::path(
    post,
    path = "/admin/impersonate/stop",
    tag = "Admin",
    security(("BearerJWT" = [])),
    responses(
        RateLimited,
        (status = 200, description = "The token is revoked", body = ImpersonationStopped),
        (status = 400, description = "Not an impersonation token", body = ErrorBody),
        (status = 401, description = "Missing, invalid or already stopped token", body = ErrorBody),
    )
)]
pub(crate) async fn stop_impersonation(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    audit: Audit,
) -> Result<Reply<ImpersonationStopped>, ApiError> {
    let (Some(_admin), Some(jti)) = (&principal.impersonator, &principal.token_id) else {
        return Err(ApiError::BadRequest(
            "Call stop with the impersonation token".into(),
        ));
    };
    // Its WebSocket connections are closed by the jobs worker, which may manage them.
    // Queued before the revocation: if either fails the token still works, so `stop` can
    // be called again.
    let disconnect = Job::disconnect_impersonation(&principal.user_id, jti)?;
    state.producer.enqueue(disconnect).await?;
    state.sessions.revoke(jti).await?;
    audit
        .record(
            "impersonate.stop",
            "user",
            Some(&principal.user_id),
            None,
            Some(json!({"token_id": jti})),
        )
        .await;
    Ok(Reply::ok(ImpersonationStopped {
        message: "Impersonation stopped".into(),
    }))
}

/// The impersonations in progress: the caller's own, or, for a superadmin, every admin's.
#[utoipa::path(
    get,
    path = "/admin/impersonate/active",
    tag = "Admin",
    responses(
        AdminOnly,
        (status = 200, description = "Sessions neither ended nor stopped, the latest to end first", body = ActiveImpersonations),
    )
)]
pub(crate) async fn list_active_impersonations(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Reply<ActiveImpersonations>, ApiError> {
    // Sessions started before sessions were listed carry no index keys: they are not
    // listed, and are gone within `IMPERSONATION_TTL_MINUTES` of the deploy.
    let now = aloft_core::timestamp::unix_now();
    let sessions = if admin.role == Role::Superadmin {
        state.sessions.all_active(now).await?
    } else {
        state.sessions.of_admin(&admin.user_id, now).await?
    };
    Ok(Reply::ok(ActiveImpersonations {
        items: sessions.into_iter().map(Into::into).collect(),
    }))
}
