//! The one way a user's credentials are switched off (and on again), used by the admin
//! routes and by identity-provider events. Deactivation takes effect on the user's next
//! request without costing any request an extra read: the user record (written by the
//! caller) refuses logins and refreshes, and its write flags the user's API keys, which
//! the key lookup sees ([`aloft_store::UserRepo`]); the user's refresh families are
//! revoked; and their unexpired access and impersonation tokens meet a `blocked_until`
//! marker in the usage item every guard updates anyway (see [`crate::Guard`]).
//!
//! Open WebSocket connections are the caller's to close: with `deactivate`, it queues
//! `aloft_queue::Job::disconnect_user` for the jobs worker, which holds the gateway's
//! grant to close any of them (realtime closes only those it meets past their
//! credential). This crate cannot queue it: `aloft-queue` is on its floor, not
//! below it (docs/architecture.md). Until the job runs, the guard refuses the
//! connections' frames, but pushes still reach them.

use std::time::Duration;

use aloft_config::{ConfigError, Env};
use aloft_core::timestamp::unix_now;
use aloft_store::{RefreshTokens, StoreError, Table, UsageMeter};

use crate::keys;

#[derive(Debug, Clone)]
pub struct Deactivation {
    usage: UsageMeter,
    refresh_tokens: RefreshTokens,
    /// The longest any token issued before now can live: the markers' span.
    horizon: Duration,
}

impl Deactivation {
    /// The horizon from `JWT_ACCESS_TTL_SECONDS` and `IMPERSONATION_TTL_MINUTES`.
    pub fn from_env(env: &Env, table: &Table) -> Result<Self, ConfigError> {
        Ok(Self {
            usage: UsageMeter::new(table.clone()),
            refresh_tokens: RefreshTokens::new(table.clone()),
            horizon: credential_horizon(env)?,
        })
    }

    /// Switches off every credential `user_id` holds. Idempotent: a retry after a
    /// failure finishes the job. Their open WebSocket connections stay open until the
    /// caller's `realtime.disconnect` job closes them (see the module's documentation).
    pub async fn deactivate(&self, user_id: &str) -> Result<(), StoreError> {
        let now = unix_now();
        self.usage
            .block_requests(user_id, now, now + self.horizon.as_secs())
            .await?;
        self.refresh_tokens.revoke_user(user_id, None).await
    }

    /// Undoes what can be undone: tokens work again (API keys follow the user record);
    /// revoked refresh families stay revoked (the user signs in anew).
    pub async fn activate(&self, user_id: &str) -> Result<(), StoreError> {
        let now = unix_now();
        self.usage
            .unblock_requests(user_id, now, now + self.horizon.as_secs())
            .await
    }
}

/// How long a credential issued now may still be used: the longer of an access token's
/// and an impersonation token's lifetime. A refusal marked now must last that long.
pub(crate) fn credential_horizon(env: &Env) -> Result<Duration, ConfigError> {
    Ok(keys::access_ttl(env)?.max(impersonation_ttl(env)?))
}

/// `IMPERSONATION_TTL_MINUTES`: 1–60, default 30 (docs/api.md).
pub fn impersonation_ttl(env: &Env) -> Result<Duration, ConfigError> {
    let minutes: u64 = env.parse_or("IMPERSONATION_TTL_MINUTES", 30)?;
    if !(1..=60).contains(&minutes) {
        return Err(ConfigError::Invalid {
            name: "IMPERSONATION_TTL_MINUTES",
            reason: format!("{minutes} is not between 1 and 60"),
        });
    }
    Ok(Duration::from_secs(minutes * 60))
}
