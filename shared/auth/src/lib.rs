//! Who is calling: access-token issue and verification, the [`Principal`] it yields, and
//! the axum extractors that require one ([`AuthUser`], [`AdminUser`]).
//!
//! Own tokens are HS256 JWTs with the algorithm pinned by configuration (a token that
//! names another algorithm, `none` included, is rejected before any key is used), a
//! `kid` for key rotation, and `iss`/`aud`/`exp`/`nbf` checked.

mod extract;
mod keys;
mod principal;

pub use extract::{AdminUser, AuthUser};
pub use keys::{AuthConfig, JwtKeys, TokenError};
pub use principal::{Principal, Role, TenantId};
