//! Who is calling: access-token issue and verification, the [`Principal`] it yields, and
//! the axum extractors that require one ([`AuthUser`], [`AdminUser`]).
//!
//! Own tokens are HS256 JWTs with the algorithm pinned by configuration (a token that
//! names another algorithm, `none` included, is rejected before any key is used), a
//! `kid` for key rotation, and `iss`/`aud`/`exp`/`nbf` checked.

mod app;
pub mod audit;
mod authenticator;
mod deactivation;
mod external;
mod extract;
mod guard;
mod keys;
mod membership;
pub mod opaque;
mod password;
mod principal;
mod profile;

pub use aloft_store::TenantId;
pub use app::{App, AppParts};
pub use audit::Audit;
pub use authenticator::{Authenticator, external_user, new_api_key};
pub use deactivation::{Deactivation, impersonation_ttl};
pub use external::{ExternalIdentity, ExternalIdp, ExternalIdpConfig};
pub use extract::{AdminUser, AuthUser, PersonUser};
pub use guard::{ClientIp, Guard, RateLimits, guarded};
pub use keys::{AuthConfig, JwtKeys, TokenError};
pub use membership::MembershipMarks;
pub use password::{PasswordError, Passwords};
pub use principal::{Credential, Plan, Principal, Role, Scope};
pub use profile::{UserProfile, parse_email};
