//! The user as the API shows it (register, users/me), and the one rule for an email
//! address a request names.

use aloft_core::ApiError;
use aloft_http::ApiVersion;
use aloft_store::UserRecord;
use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use crate::{Plan, Role};

/// A user's profile. v2 adds `is_premium` and `days_since_joined`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserProfile {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub is_active: bool,
    /// The user proved the address is theirs (the verification link).
    pub is_verified: bool,
    pub subscription_plan: Plan,
    pub subscription_status: Option<String>,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// v2 only: a paid plan with an active or trialing subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_premium: Option<bool>,
    /// v2 only: whole days since registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_since_joined: Option<i64>,
}

impl UserProfile {
    pub fn of(user: &UserRecord, version: ApiVersion, now: OffsetDateTime) -> Self {
        let plan = Plan::parse(&user.subscription_plan);
        let v2 = version == ApiVersion::V2;
        let is_premium = plan != Plan::Free
            && matches!(
                user.subscription_status.as_deref(),
                Some("active" | "trialing")
            );
        let days_since_joined = OffsetDateTime::parse(&user.created_at, &Rfc3339)
            .map(|joined| (now - joined).whole_days().max(0))
            .unwrap_or(0);
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            full_name: user.full_name.clone(),
            avatar_url: user.avatar_url.clone(),
            role: Role::parse(&user.role),
            is_active: user.is_active,
            is_verified: user.email_verified,
            subscription_plan: plan,
            subscription_status: user.subscription_status.clone(),
            created_at: user.created_at.clone(),
            is_premium: v2.then_some(is_premium),
            days_since_joined: v2.then_some(days_since_joined),
        }
    }
}

/// A plausible address: one `@`, something on both sides, a dot in the domain, no
/// spaces, at most 254 characters. Deliverability is the mail server's business.
pub fn parse_email(raw: &str) -> Result<String, ApiError> {
    let email = aloft_store::normalize_email(raw);
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(ApiError::validation("email", "Enter a valid email address"))
    }
}
