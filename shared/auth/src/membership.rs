//! Membership changes take effect on the member's next request: each change (a new
//! role, a removal, the organization deleted) is marked on the member's usage items for
//! as long as a credential issued before it may live, and the guard's one conditional
//! write per request refuses a credential that claims anything else (`RequestLimit::
//! membership`). The member's API keys in the organization follow the change too
//! (`ApiKeyRepo::follow_membership`): a key made there acts with its owner's role as it
//! is now, and leaving deletes it.

use std::time::Duration;

use aloft_config::{ConfigError, Env};
use aloft_core::timestamp::unix_now;
use aloft_store::{
    ApiKeyRepo, MemberRole, StoreError, Table, TenantId, UsageMeter, usage::MEMBERSHIP_REMOVED,
};

use crate::deactivation::credential_horizon;

#[derive(Debug, Clone)]
pub struct MembershipMarks {
    usage: UsageMeter,
    api_keys: ApiKeyRepo,
    horizon: Duration,
}

impl MembershipMarks {
    pub fn from_env(env: &Env, table: &Table) -> Result<Self, ConfigError> {
        Ok(Self {
            usage: UsageMeter::new(table.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
            horizon: credential_horizon(env)?,
        })
    }

    /// `user_id` is now `role` in `tenant` (`None`: no longer a member). Idempotent, so
    /// a retried change marks again. The mark comes first: from then on the guard
    /// refuses a credential claiming anything else, keys still being rewritten included.
    pub async fn record(
        &self,
        user_id: &str,
        tenant: &TenantId,
        role: Option<MemberRole>,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        let state = role.map_or(MEMBERSHIP_REMOVED, MemberRole::as_str);
        self.usage
            .mark_membership(
                user_id,
                tenant.as_str(),
                state,
                now,
                now + self.horizon.as_secs(),
            )
            .await?;
        self.api_keys
            .follow_membership(user_id, tenant, role.map(MemberRole::as_str))
            .await
    }
}
