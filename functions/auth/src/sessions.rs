//! The signed-in user's own credentials (docs/api.md, "Identity"), under
//! `/app/users/me/`: a new verification link, a password change, and their sessions
//! (refresh-token families). Served here, beside sign-in, so the profile function needs
//! neither a password hasher nor a queue. Password and session routes take a person with
//! their own token ([`PersonUser`]): an API key or an impersonation token gets 403.

use aloft_auth::{AuthUser, ClientIp, Passwords, PersonUser};
use aloft_core::{ApiError, timestamp::unix_now};
use aloft_http::{
    Json, Reply,
    openapi::{ErrorBody, JsonBody, SignedIn},
};
use aloft_queue::{AccountMail, Job, Queued};
use aloft_store::{SessionRecord, UserRecord};
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AppState, account::throttle_mail};

/// `POST /app/users/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// One session: a sign-in and the refreshes that followed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session the caller's access token belongs to.
    pub current: bool,
}

/// The caller's sessions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

/// The answer to a request for a mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailQueued {
    pub message: &'static str,
}

async fn active_user(state: &AppState, user_id: &str) -> Result<UserRecord, ApiError> {
    state
        .users
        .get(user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(|| ApiError::Authorization("This account is inactive".into()))
}

/// Mail a new verification link to the caller's address (rate-limited per address and
/// per client address: `RATE_LIMIT_EMAIL_PER_HOUR`).
#[utoipa::path(
    post,
    path = "/app/users/me/verify-email",
    tag = "Users",
    responses(
        SignedIn,
        (status = 202, description = "A link is on its way (none if the address is verified already)", body = MailQueued),
        (status = 403, description = "The account is inactive", body = ErrorBody),
        (status = 429, description = "Too many links asked for this address or from this client", body = ErrorBody),
    )
)]
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    ClientIp(ip): ClientIp,
) -> Result<Reply<MailQueued>, ApiError> {
    let user = active_user(&state, &principal.user_id).await?;
    if !user.email_verified {
        throttle_mail(&state, &ip, &user.email).await?;
        let mail = Job::VerifyEmail(AccountMail {
            email: user.email.clone(),
        });
        state.producer.enqueue(mail.new_job()?).await?;
    }
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        MailQueued {
            message: "If the address awaits verification, a link is on its way",
        },
    ))
}

/// Change the caller's password. Every other session is signed out.
#[utoipa::path(
    post,
    path = "/app/users/me/password",
    tag = "Users",
    security(("BearerJWT" = [])),
    request_body = ChangePasswordRequest,
    responses(
        SignedIn, JsonBody,
        (status = 204, description = "Changed; every other session is signed out"),
        (status = 401, description = "`current_password` is wrong", body = ErrorBody),
        (status = 403, description = "An API key or an impersonation token, or an inactive account", body = ErrorBody),
        (status = 422, description = "`new_password` breaks the rule", body = ErrorBody),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    Passwords::check_rule("new_password", &body.new_password)?;
    let user = active_user(&state, &principal.user_id).await?;
    let matches = state
        .passwords
        .verify_off_thread(body.current_password, user.password_hash.clone())
        .await?;
    if !matches {
        return Err(ApiError::Authentication(
            "The current password is wrong".into(),
        ));
    }
    let hash = state.passwords.hash_off_thread(body.new_password).await?;
    let now = aloft_core::timestamp::now();
    if !state.users.set_password(&user.id, &hash, &now).await? {
        return Err(ApiError::not_found("User", user.id));
    }
    state
        .refresh_tokens
        .revoke_user(&user.id, principal.session_id())
        .await?;
    tracing::info!(user.id = user.id.as_str(), "password changed");
    Ok(StatusCode::NO_CONTENT)
}

fn view(session: SessionRecord, current: Option<&str>) -> SessionView {
    SessionView {
        current: current == Some(session.family_id.as_str()),
        id: session.family_id,
        created_at: session.created_at,
        last_used_at: session.last_used_at,
        user_agent: session.user_agent,
        ip: session.ip,
    }
}

/// The caller's live sessions.
#[utoipa::path(
    get,
    path = "/app/users/me/sessions",
    tag = "Users",
    security(("BearerJWT" = [])),
    responses(
        SignedIn,
        (status = 200, description = "Sessions not signed out nor expired, oldest first", body = SessionList),
        (status = 403, description = "An API key or an impersonation token", body = ErrorBody),
    )
)]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
) -> Result<Reply<SessionList>, ApiError> {
    let sessions = state
        .refresh_tokens
        .sessions(&principal.user_id, unix_now())
        .await?;
    let current = principal.session_id();
    Ok(Reply::ok(SessionList {
        items: sessions.into_iter().map(|s| view(s, current)).collect(),
    }))
}

/// Sign one session out: its refresh cookie stops working.
#[utoipa::path(
    delete,
    path = "/app/users/me/sessions/{id}",
    tag = "Users",
    security(("BearerJWT" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        SignedIn,
        (status = 204, description = "Signed out"),
        (status = 403, description = "An API key or an impersonation token", body = ErrorBody),
        (status = 404, description = "No such session of the caller's", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state
        .refresh_tokens
        .revoke_session(&principal.user_id, &id)
        .await?
    {
        return Err(ApiError::not_found("Session", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sign every session out but the caller's own.
#[utoipa::path(
    delete,
    path = "/app/users/me/sessions",
    tag = "Users",
    security(("BearerJWT" = [])),
    responses(
        SignedIn,
        (status = 204, description = "Every other session is signed out"),
        (status = 403, description = "An API key or an impersonation token", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_other_sessions(
    State(state): State<AppState>,
    PersonUser(principal): PersonUser,
) -> Result<StatusCode, ApiError> {
    state
        .refresh_tokens
        .revoke_user(&principal.user_id, principal.session_id())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_session_is_marked_current() {
        let session = SessionRecord {
            user_id: "u".into(),
            family_id: "f1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            last_used_at: "2026-01-01T00:05:00Z".into(),
            user_agent: Some("curl/8".into()),
            ip: None,
            expires_at: 0,
            revoked: None,
            tenant_id: None,
        };
        assert!(view(session.clone(), Some("f1")).current);
        assert!(!view(session.clone(), Some("f2")).current);
        assert!(!view(session, None).current);
    }
}
