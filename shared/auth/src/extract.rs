//! Extractors that require a verified caller.

use aloft_http::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use crate::{Authenticator, Principal};

/// A request with a valid bearer token or API key; 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// A request from an `admin` or `superadmin`; 401 without valid credentials, 403 with a
/// lower role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Already verified by the guard layer in front of the router.
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(AuthUser(principal.clone()));
        }
        let authenticator = Authenticator::from_ref(state);
        match authenticator.authenticate(&parts.headers).await? {
            Some(principal) => {
                parts.extensions.insert(principal.clone());
                Ok(AuthUser(principal))
            }
            None => Err(ApiError::Authentication("Not authenticated".into())),
        }
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if principal.impersonator.is_some() {
            return Err(ApiError::Authorization(
                "Impersonation tokens cannot use admin routes".into(),
            ));
        }
        if !principal.is_admin() {
            return Err(ApiError::Authorization("Admin role required".into()));
        }
        Ok(AdminUser(principal))
    }
}
