//! Real signed tokens for tests, with the same keys the test configuration uses.

use std::time::{SystemTime, UNIX_EPOCH};

use aloft_auth::{AuthConfig, JwtKeys, Principal, Role, TenantId};

pub const TEST_JWT_SECRET: &str = "testkit-secret-long-enough-for-hs256-0123456789";
pub const TEST_ISSUER: &str = "aloft-test";
pub const TEST_AUDIENCE: &str = "aloft";

/// The token configuration matching [`crate::TestEnv::env`].
pub fn auth_config() -> AuthConfig {
    AuthConfig::from_env(&aloft_config::Env::from_pairs([
        ("JWT_SECRET", TEST_JWT_SECRET),
        ("JWT_ISSUER", TEST_ISSUER),
        ("JWT_AUDIENCE", TEST_AUDIENCE),
    ]))
    .expect("test auth configuration is valid")
}

/// A valid access token for a user in their own tenant.
pub fn token_for(user_id: &str, role: Role) -> String {
    let principal = Principal {
        user_id: user_id.to_owned(),
        tenant_id: TenantId::new(format!("tenant-{user_id}")),
        role,
        plan: aloft_auth::Plan::Free,
        email: Some(format!("{user_id}@example.com")),
        impersonator: None,
        token_id: None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    JwtKeys::new(&auth_config())
        .issue(&principal, now)
        .expect("token signs")
}
