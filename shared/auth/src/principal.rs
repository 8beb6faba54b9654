//! The authenticated caller.

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

/// The tenant that owns a caller's data. It only ever comes from a verified token, never
/// from the request, so a client cannot name someone else's tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Wraps an id read from a verified credential or a stored record.
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub tenant_id: TenantId,
    pub role: Role,
    pub email: Option<String>,
    /// The admin acting as this user, from an RFC 8693 `act` claim.
    pub impersonator: Option<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}
