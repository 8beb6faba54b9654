//! Extractors that require a verified caller.

use std::sync::Arc;

use aloft_http::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use http::{header, request::Parts};

use crate::{JwtKeys, Principal, TokenError};

/// A request made with a valid bearer token; 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// A request from an `admin` or `superadmin`; 401 without a valid token, 403 with a
/// lower role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(AuthUser(principal.clone()));
        }
        let token = bearer_token(parts)?;
        let keys = Arc::<JwtKeys>::from_ref(state);
        let principal = keys.verify(token).map_err(|e| match e {
            TokenError::Expired => ApiError::Authentication("Token has expired".into()),
            TokenError::Invalid => ApiError::Authentication("Invalid token".into()),
        })?;
        parts.extensions.insert(principal.clone());
        Ok(AuthUser(principal))
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if !principal.is_admin() {
            return Err(ApiError::Authorization("Admin role required".into()));
        }
        Ok(AdminUser(principal))
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Authentication("Not authenticated".into()))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Authentication(
            "Authorization header must be 'Bearer <token>'".into(),
        ))
}
