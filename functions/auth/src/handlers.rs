//! The four auth routes.

use aloft_auth::{ClientIp, Credential, Plan, Principal, Role, TenantId, UserProfile, opaque};
use aloft_core::{ApiError, timestamp::unix_now};
use aloft_http::{
    ApiVersion, Reply,
    openapi::{ErrorBody, JsonBody, RateLimited},
};
use aloft_queue::{AccountMail, Job, Queued};
use aloft_store::{MemberRole, RefreshRecord, Rotation, SessionUse, StoreError, UserRecord};
use axum::{
    extract::State,
    response::{AppendHeaders, IntoResponse, Response},
};
use http::{HeaderMap, StatusCode, header};
use time::OffsetDateTime;

use crate::{
    AppState, REFRESH_TTL, cookie,
    requests::{Credentials, RegisterRequest, TokenResponse},
};

/// Create an account. The user gets a personal tenant and the `user` role, and a
/// verification link is mailed to the address. An email listed in
/// `BOOTSTRAP_ADMIN_EMAILS` (`BOOTSTRAP_SUPERADMIN_EMAILS`) gets the `admin`
/// (`superadmin`) role once it is verified, never before.
#[utoipa::path(
    post,
    path = "/public/auth/register",
    tag = "Auth",
    request_body = RegisterRequest,
    responses(
        JsonBody, RateLimited,
        (status = 201, description = "Account created", body = UserProfile),
        (status = 409, description = "Email already registered", body = ErrorBody),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    version: ApiVersion,
    aloft_http::Json(body): aloft_http::Json<RegisterRequest>,
) -> Result<Reply<UserProfile>, ApiError> {
    let registration = body.parse()?;
    let password_hash = state
        .passwords
        .hash_off_thread(registration.password)
        .await?;
    let now = OffsetDateTime::now_utc();
    let created_at = aloft_core::timestamp::format(now);
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email: registration.email,
        full_name: registration.full_name,
        avatar_url: None,
        role: Role::User.as_str().to_owned(),
        is_active: true,
        tenant_id: uuid::Uuid::new_v4().to_string(),
        subscription_plan: "free".into(),
        subscription_status: None,
        subscription_period_end: None,
        cancel_at_period_end: false,
        subscription_id: None,
        stripe_customer_id: None,
        created_at: created_at.clone(),
        updated_at: created_at,
        password_hash: Some(password_hash),
        email_verified: false,
    };
    state.users.create(&user).await.map_err(|e| match e {
        StoreError::ConditionFailed => ApiError::Conflict("Email already registered".into()),
        other => other.into(),
    })?;
    // The account exists either way; a failed queueing is logged and the user can ask
    // for the link again (`POST /app/users/me/verify-email`).
    // The system's mail, not the user's doing: it counts in nobody's usage.
    let mail = Job::VerifyEmail(AccountMail {
        email: user.email.clone(),
    });
    let queued = async { state.producer.enqueue(mail.new_job()?).await };
    if let Err(e) = queued.await {
        tracing::error!(error.cause = %e, user.id = user.id.as_str(), "verification mail not queued");
    }
    tracing::info!(user.id = user.id.as_str(), "user registered");
    Ok(Reply::created(UserProfile::of(&user, version, now)))
}

/// Sign in with email and password, as JSON `{email, password}` or as the OAuth2 form
/// `username=…&password=…`. Returns an access token and sets the refresh cookie.
#[utoipa::path(
    post,
    path = "/public/auth/login",
    tag = "Auth",
    request_body(content(
        (super::requests::LoginRequest = "application/json"),
        (super::requests::LoginForm = "application/x-www-form-urlencoded")
    )),
    responses(
        JsonBody, RateLimited,
        (status = 200, description = "Signed in; `Set-Cookie: aloft_refresh=…`", body = TokenResponse),
        (status = 401, description = "Wrong email or password (same message for both)", body = ErrorBody),
        (status = 403, description = "The account is disabled, or a login form was posted by a page of another site not in `CORS_ALLOW_ORIGINS`", body = ErrorBody),
        (status = 422, description = "A field is missing or not a string (`details.field` names it), or the form cannot be read", body = ErrorBody),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    credentials: Credentials,
) -> Result<Response, ApiError> {
    // Login CSRF: a page of another site must not sign its visitor in as someone else.
    if let Some(origin) = &credentials.foreign_origin
        && !state.form_origins.iter().any(|allowed| allowed == origin)
    {
        return Err(ApiError::Authorization(
            format!("A login form from {origin} is not accepted").into(),
        ));
    }
    let user = state.users.find_by_email(&credentials.email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state
        .passwords
        .verify_off_thread(credentials.password, stored)
        .await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::Authentication(
            "Incorrect email or password".into(),
        ));
    };
    if !user.is_active {
        return Err(ApiError::Authorization("This account is disabled".into()));
    }
    let family_id = uuid::Uuid::new_v4().to_string();
    let refresh = start_session(&state, &user.id, &family_id, &session_use(&headers, ip)).await?;
    tracing::info!(user.id = user.id.as_str(), "user signed in");
    sign_in_response(&state, &user, &family_id, &refresh, None)
}

/// Where and when a session is being used: now, by this client.
fn session_use(headers: &HeaderMap, ip: String) -> SessionUse {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|agent| agent.chars().take(256).collect());
    SessionUse {
        at: aloft_core::timestamp::now(),
        user_agent,
        ip: (ip != "unknown").then_some(ip),
    }
}

/// Exchange the refresh cookie for a new access token; the cookie is rotated. Presenting
/// a refresh token that was already used revokes its whole family.
#[utoipa::path(
    post,
    path = "/public/auth/refresh",
    tag = "Auth",
    responses(
        RateLimited,
        (status = 200, description = "New access token; the cookie is replaced", body = TokenResponse),
        (status = 401, description = "No, unknown, expired, revoked or reused refresh token", body = ErrorBody),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let Some(presented) = cookie::read(&headers) else {
        return Err(refused("No refresh token"));
    };
    let now = unix_now();
    let new_secret = opaque::random_secret().map_err(|e| ApiError::internal(e).into_response())?;
    let rotation = state
        .refresh_tokens
        .rotate(
            &opaque::secret_hash(&presented),
            &opaque::secret_hash(&new_secret),
            now,
            now + REFRESH_TTL.as_secs(),
            &session_use(&headers, ip),
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let (user_id, family_id) = match rotation {
        Rotation::Rotated { user_id, family_id } => (user_id, family_id),
        Rotation::Invalid => return Err(refused("Invalid or expired refresh token")),
        Rotation::Reused => {
            tracing::warn!("refresh token reused: family revoked");
            return Err(refused("Refresh token was already used; sign in again"));
        }
    };
    let user = state
        .users
        .get(&user_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .filter(|u| u.is_active)
        .ok_or_else(|| refused("The account is no longer active"))?;
    let active = active_organization(&state, &user.id, &family_id)
        .await
        .map_err(IntoResponse::into_response)?;
    sign_in_response(&state, &user, &family_id, &new_secret, active)
        .map_err(IntoResponse::into_response)
}

/// An organization a session acts in: the user's role there and its plan.
type Acting = (TenantId, MemberRole, Plan);

/// The organization session `family_id` acts in (`switch`), the user's role there and
/// its plan, while they are a member; else the personal tenant (`None`), which the
/// session then returns to.
async fn active_organization(
    state: &AppState,
    user_id: &str,
    family_id: &str,
) -> Result<Option<Acting>, ApiError> {
    let tenant = state
        .refresh_tokens
        .session(family_id)
        .await?
        .and_then(|session| session.tenant_id)
        .map(TenantId::new);
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    let (member, organization) = tokio::join!(
        state.organizations.membership(&tenant, user_id),
        state.organizations.get(&tenant)
    );
    match (member?, organization?) {
        (Some(member), Some(organization)) => {
            let plan = Plan::parse(&organization.subscription_plan);
            Ok(Some((tenant, member.role, plan)))
        }
        _ => {
            state
                .refresh_tokens
                .set_tenant(user_id, family_id, None)
                .await?;
            Ok(None)
        }
    }
}

/// Sign out: the refresh token's family is revoked and the cookie cleared. Always 204,
/// so it can be retried.
#[utoipa::path(
    post,
    path = "/public/auth/logout",
    tag = "Auth",
    responses(
        RateLimited,
        (status = 204, description = "Signed out; the cookie is cleared"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(presented) = cookie::read(&headers) {
        let hash = opaque::secret_hash(&presented);
        if let Some(record) = state.refresh_tokens.family_of(&hash).await? {
            state
                .refresh_tokens
                .revoke_family(&record.family_id, record.expires_at)
                .await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, cookie::clear())]),
    )
        .into_response())
}

async fn start_session(
    state: &AppState,
    user_id: &str,
    family_id: &str,
    seen: &SessionUse,
) -> Result<String, ApiError> {
    let secret = opaque::random_secret().map_err(ApiError::internal)?;
    let record = RefreshRecord {
        user_id: user_id.to_owned(),
        family_id: family_id.to_owned(),
        rotated: false,
        expires_at: unix_now() + REFRESH_TTL.as_secs(),
    };
    state
        .refresh_tokens
        .start(&opaque::secret_hash(&secret), &record, seen)
        .await?;
    Ok(secret)
}

/// 200 with a fresh access token for `user` in session `family_id`, acting in the
/// organization `active` names with their role there and its plan (else their personal
/// tenant and plan), and the refresh cookie.
fn sign_in_response(
    state: &AppState,
    user: &UserRecord,
    family_id: &str,
    refresh: &str,
    active: Option<Acting>,
) -> Result<Response, ApiError> {
    let (tenant_id, membership, plan) = match active {
        Some((tenant, role, plan)) => (tenant, Some(role), plan),
        None => (
            TenantId::new(user.tenant_id.clone()),
            None,
            Plan::parse(&user.subscription_plan),
        ),
    };
    let principal = Principal {
        user_id: user.id.clone(),
        tenant_id,
        membership,
        role: Role::parse(&user.role),
        plan,
        email: Some(user.email.clone()),
        impersonator: None,
        token_id: None,
        credential: Credential::Token {
            session_id: Some(family_id.to_owned()),
        },
    };
    let access_token = state
        .keys
        .issue(&principal, unix_now())
        .map_err(ApiError::internal)?;
    let body = TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.keys.access_ttl().as_secs(),
    };
    Ok((
        AppendHeaders([(header::SET_COOKIE, cookie::set(refresh))]),
        Reply::ok(body),
    )
        .into_response())
}

/// 401 that also deletes the cookie, so the browser stops sending a dead token.
fn refused(message: &'static str) -> Response {
    (
        AppendHeaders([(header::SET_COOKIE, cookie::clear())]),
        ApiError::Authentication(message.into()),
    )
        .into_response()
}
