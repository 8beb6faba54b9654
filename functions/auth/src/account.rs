//! Email verification and the forgotten-password reset (docs/api.md, "Identity").
//! The links' tokens are minted and mailed by `jobs-worker`; here they are used, once.

use aloft_auth::{ClientIp, Passwords, Role, UserProfile, opaque};
use aloft_core::{ApiError, timestamp::unix_now};
use aloft_http::{
    ApiVersion, Json, Reply,
    openapi::{ErrorBody, JsonBody, RateLimited},
};
use aloft_queue::{AccountMail, Job, Queued};
use aloft_store::Purpose;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use aloft_auth::parse_email;

/// Longest token accepted: ours are 43 characters.
const MAX_TOKEN_CHARS: usize = 128;

/// `POST /public/auth/verify-email`.
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "the document's schema: the body is read as JSON, so a bad token is a 400"
)]
pub struct VerifyEmailRequest {
    /// The `token` of the link in the verification email.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

/// `POST /public/auth/password/forgot`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// `POST /public/auth/password/reset`.
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "the document's schema: the body is read as JSON, so a bad token is a 400"
)]
pub struct ResetPasswordRequest {
    /// The `token` of the link in the reset email.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
    /// The new password, 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// The answer to a request for a mail, the same whether or not it is sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailAccepted {
    pub message: &'static str,
}

/// A link's token from a JSON body: 400 `BAD_REQUEST` when it is missing or not a
/// token at all (docs/api.md: a bad link is a bad request, not a form error).
fn token_of(body: &Value) -> Result<String, ApiError> {
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let well_formed = !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(token.to_owned())
    } else {
        Err(ApiError::BadRequest(
            "`token` must be the token of the link you received".into(),
        ))
    }
}

fn invalid_link() -> ApiError {
    ApiError::BadRequest("This link is invalid, used or expired; ask for a new one".into())
}

/// Verify an email address with the token of the link mailed to it. A bootstrap role
/// (`BOOTSTRAP_*_EMAILS`) is granted now.
#[utoipa::path(
    post,
    path = "/public/auth/verify-email",
    tag = "Auth",
    request_body = VerifyEmailRequest,
    responses(
        JsonBody, RateLimited,
        (status = 200, description = "Verified; the user", body = UserProfile),
        (status = 400, description = "Missing or malformed token, or a used, expired or unknown one", body = ErrorBody),
    )
)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    version: ApiVersion,
    Json(body): Json<Value>,
) -> Result<Reply<UserProfile>, ApiError> {
    let token = token_of(&body)?;
    let record = state
        .one_time
        .consume(
            Purpose::VerifyEmail,
            &opaque::secret_hash(&token),
            unix_now(),
        )
        .await?
        .ok_or_else(invalid_link)?;
    let role = if state.bootstrap_superadmins.contains(&record.email) {
        Some(Role::Superadmin)
    } else if state.bootstrap_admins.contains(&record.email) {
        Some(Role::Admin)
    } else {
        None
    };
    let now = OffsetDateTime::now_utc();
    let user = state
        .users
        .mark_verified(
            &record.user_id,
            &record.email,
            role.map(Role::as_str),
            &aloft_core::timestamp::format(now),
        )
        .await?
        .ok_or_else(invalid_link)?;
    tracing::info!(
        user.id = user.id.as_str(),
        user.role = user.role.as_str(),
        "email verified"
    );
    Ok(Reply::ok(UserProfile::of(&user, version, now)))
}

/// Ask for a password-reset link. The answer and the work are the same whether or not
/// the address belongs to anyone: the request only queues the mail, and the worker looks
/// the address up.
#[utoipa::path(
    post,
    path = "/public/auth/password/forgot",
    tag = "Auth",
    request_body = ForgotPasswordRequest,
    responses(
        JsonBody, RateLimited,
        (status = 202, description = "If an account has this address, a link is on its way", body = MailAccepted),
        (status = 422, description = "`email` is missing or not an address", body = ErrorBody),
    )
)]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ForgotPasswordRequest>,
) -> Result<Reply<MailAccepted>, ApiError> {
    let email = parse_email(&body.email)?;
    throttle_mail(&state, &ip, &email).await?;
    state
        .producer
        .enqueue(Job::ResetPassword(AccountMail { email }).new_job()?)
        .await?;
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        MailAccepted {
            message: "If an account has this address, a reset link is on its way",
        },
    ))
}

/// Mail to one address, and from one client address, is limited per hour
/// (`RATE_LIMIT_EMAIL_PER_HOUR`): nobody can flood a mailbox through us.
pub(crate) async fn throttle_mail(state: &AppState, ip: &str, email: &str) -> Result<(), ApiError> {
    let limit = state.guard.limits().email_per_hour;
    state
        .guard
        .throttle(&format!("email:{email}"), "mail", limit, 3600)
        .await?;
    state
        .guard
        .throttle(&format!("ip:{ip}"), "mail", limit, 3600)
        .await
}

/// Set a new password with the token of a reset link. Every session of the user ends.
#[utoipa::path(
    post,
    path = "/public/auth/password/reset",
    tag = "Auth",
    request_body = ResetPasswordRequest,
    responses(
        JsonBody, RateLimited,
        (status = 204, description = "The password is set; every session is signed out"),
        (status = 400, description = "Missing or malformed token, or a used, expired or unknown one", body = ErrorBody),
        (status = 422, description = "The password breaks the rule (`details.field` = `password`)", body = ErrorBody),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<Value>,
) -> Result<StatusCode, ApiError> {
    let token = token_of(&body)?;
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("password", "`password` is required"))?;
    Passwords::check_rule("password", password)?;
    // Hashed before the token is used: a failure here leaves the link usable.
    let hash = state.passwords.hash_off_thread(password.to_owned()).await?;
    let record = state
        .one_time
        .consume(
            Purpose::ResetPassword,
            &opaque::secret_hash(&token),
            unix_now(),
        )
        .await?
        .ok_or_else(invalid_link)?;
    let user = state
        .users
        .get(&record.user_id)
        .await?
        .filter(|user| user.email == record.email && user.is_active)
        .ok_or_else(invalid_link)?;
    let now = aloft_core::timestamp::now();
    if !state.users.set_password(&user.id, &hash, &now).await? {
        return Err(invalid_link());
    }
    state.refresh_tokens.revoke_user(&user.id, None).await?;
    tracing::info!(user.id = user.id.as_str(), "password reset");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_must_look_like_ours() {
        assert!(token_of(&json!({"token": "abc_DEF-123"})).is_ok());
        for body in [
            json!({}),
            json!({"token": ""}),
            json!({"token": 42}),
            json!({"token": "has space"}),
            json!({"token": "x".repeat(129)}),
            json!([]),
        ] {
            assert!(
                matches!(token_of(&body), Err(ApiError::BadRequest(_))),
                "{body}"
            );
        }
    }
}
