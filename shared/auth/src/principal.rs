//! The authenticated caller.

use aloft_store::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Roles in increasing power: `user` < `admin` < `superadmin`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
    Superadmin,
}

impl Role {
    /// Parses a stored role; anything unknown is the least privileged.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "superadmin" => Role::Superadmin,
            "admin" => Role::Admin,
            _ => Role::User,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Superadmin => "superadmin",
        }
    }
}

/// Subscription plans; they scale rate limits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    /// Parses a stored plan; anything unknown is `free`.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "pro" => Plan::Pro,
            "enterprise" => Plan::Enterprise,
            _ => Plan::Free,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Rate-limit multiplier (API.md): free ×1, pro ×5, enterprise ×20.
    pub fn rate_multiplier(self) -> u32 {
        match self {
            Plan::Free => 1,
            Plan::Pro => 5,
            Plan::Enterprise => 20,
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub tenant_id: TenantId,
    pub role: Role,
    pub plan: Plan,
    pub email: Option<String>,
    /// The admin acting as this user, from an RFC 8693 `act` claim.
    pub impersonator: Option<String>,
    /// The token's `jti`, set on impersonation tokens so `stop` can revoke them.
    pub token_id: Option<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}
