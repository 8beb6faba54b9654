//! The authenticated caller.

use aloft_store::{MemberRole, TenantId, UsageOwner};
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

    /// Rate-limit multiplier (docs/api.md): free ×1, pro ×5, enterprise ×20.
    pub fn rate_multiplier(self) -> u32 {
        match self {
            Plan::Free => 1,
            Plan::Pro => 5,
            Plan::Enterprise => 20,
        }
    }
}

/// What an API key may do (docs/api.md): `read` (GET and HEAD), `write` (every method: what
/// a member may do), `admin` (the admin routes, with `read`/`write` for their methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token: ours, naming the session (refresh family) it was issued in, or
    /// an identity provider's (no session).
    Token { session_id: Option<String> },
    /// An API key, narrowed to its scopes.
    ApiKey { id: String, scopes: Vec<Scope> },
}

impl Credential {
    /// A token outside any session of ours.
    pub const SESSIONLESS: Credential = Credential::Token { session_id: None };
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub tenant_id: TenantId,
    /// The caller's role in the organization `tenant_id` names; `None` in their personal
    /// tenant (theirs alone).
    pub membership: Option<MemberRole>,
    pub role: Role,
    pub plan: Plan,
    pub email: Option<String>,
    /// The admin acting as this user, from an RFC 8693 `act` claim.
    pub impersonator: Option<String>,
    /// The token's `jti`, set on impersonation tokens so `stop` can revoke them.
    pub token_id: Option<String>,
    pub credential: Credential,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// A person at a keyboard with their own token: not an API key, not an admin
    /// impersonating. Only such a caller may mint credentials (docs/api.md).
    pub fn is_person(&self) -> bool {
        self.impersonator.is_none() && matches!(self.credential, Credential::Token { .. })
    }

    /// The caller may manage the tenant they act in (its webhook subscriptions, say):
    /// their own personal tenant, or an organization they own or administer.
    pub fn manages_tenant(&self) -> bool {
        self.membership.is_none_or(MemberRole::manages)
    }

    /// Whose allowance the caller's metered use (AI, files, storage) counts against:
    /// their own in their personal tenant; in an organization, the organization's,
    /// pooled, with the member named.
    pub fn usage_owner(&self) -> UsageOwner {
        match self.membership {
            None => UsageOwner::user(&self.user_id),
            Some(_) => UsageOwner {
                id: self.tenant_id.as_str().to_owned(),
                member: Some(self.user_id.clone()),
            },
        }
    }

    /// The session (refresh family) the caller's access token was issued in.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Token { session_id } => session_id.as_deref(),
            Credential::ApiKey { .. } => None,
        }
    }

    /// Whether an API key's scopes allow a request with `method`, to an admin route or
    /// not; tokens are not narrowed.
    pub fn scopes_allow(&self, method: &http::Method, admin_route: bool) -> bool {
        let Credential::ApiKey { scopes, .. } = &self.credential else {
            return true;
        };
        // `write` is everything a member may do, reading included.
        let method_allowed = if crate::extract::is_read(method) {
            scopes.contains(&Scope::Read) || scopes.contains(&Scope::Write)
        } else {
            scopes.contains(&Scope::Write)
        };
        method_allowed && (!admin_route || scopes.contains(&Scope::Admin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn key(scopes: &[Scope]) -> Principal {
        Principal {
            user_id: "u".into(),
            tenant_id: TenantId::new("t"),
            membership: None,
            role: Role::Admin,
            plan: Plan::Free,
            email: None,
            impersonator: None,
            token_id: None,
            credential: Credential::ApiKey {
                id: "k".into(),
                scopes: scopes.to_vec(),
            },
        }
    }

    #[test]
    fn scopes_narrow_keys_by_method_and_area() {
        use Scope::{Admin, Read, Write};
        let cases = [
            (&[Read][..], Method::GET, false, true),
            (&[Read], Method::POST, false, false),
            (&[Write], Method::GET, false, true),
            (&[Write], Method::DELETE, false, true),
            (&[Read, Write], Method::GET, true, false),
            (&[Admin], Method::GET, true, false),
            (&[Read, Admin], Method::GET, true, true),
            (&[Read, Admin], Method::PATCH, true, false),
            (&[Write, Admin], Method::PATCH, true, true),
        ];
        for (scopes, method, admin_route, allowed) in cases {
            assert_eq!(
                key(scopes).scopes_allow(&method, admin_route),
                allowed,
                "{scopes:?} {method} admin={admin_route}"
            );
        }
        let mut token = key(&[]);
        token.credential = Credential::SESSIONLESS;
        assert!(
            token.scopes_allow(&Method::DELETE, true),
            "tokens are not narrowed"
        );
        assert!(token.is_person());
        token.impersonator = Some("admin".into());
        assert!(!token.is_person());
        assert!(!key(&[Read, Write]).is_person());
    }
}
