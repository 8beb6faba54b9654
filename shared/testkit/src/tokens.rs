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

/// A valid access token for a user in their own tenant (`tenant-<user>`).
pub fn token_for(user_id: &str, role: Role) -> String {
    signed(user_id, &format!("tenant-{user_id}"), role, now())
}

/// A valid access token (role `user`) for a user of `tenant`.
pub fn token_in_tenant(user_id: &str, tenant: &str) -> String {
    signed(user_id, tenant, Role::User, now())
}

/// A valid access token for a member of organization `tenant` with `role` there (what
/// `switch` signs).
pub fn token_as_member(user_id: &str, tenant: &str, role: aloft_store::MemberRole) -> String {
    let principal = Principal {
        membership: Some(role),
        ..principal(user_id, tenant, Role::User)
    };
    JwtKeys::new(&auth_config())
        .issue(&principal, now())
        .expect("token signs")
}

/// A well-signed token for a user in their own tenant that expired an hour ago.
pub fn expired_token_for(user_id: &str) -> String {
    signed(
        user_id,
        &format!("tenant-{user_id}"),
        Role::User,
        now() - 3600,
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A token issued at `issued_at` with the test configuration's lifetime.
fn signed(user_id: &str, tenant: &str, role: Role, issued_at: u64) -> String {
    JwtKeys::new(&auth_config())
        .issue(&principal(user_id, tenant, role), issued_at)
        .expect("token signs")
}

fn principal(user_id: &str, tenant: &str, role: Role) -> Principal {
    Principal {
        user_id: user_id.to_owned(),
        tenant_id: TenantId::new(tenant),
        membership: None,
        role,
        plan: aloft_auth::Plan::Free,
        email: Some(format!("{user_id}@example.com")),
        impersonator: None,
        token_id: None,
        credential: aloft_auth::Credential::SESSIONLESS,
    }
}
