//! Extractors that require a verified caller.

use aloft_core::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use aloft_store::MemberRole;

use crate::{Authenticator, Principal};

/// A request with a valid bearer token or API key; 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// A request from an `admin` or `superadmin`; 401 without valid credentials, 403 with a
/// lower role, an impersonation token, or an API key without the `admin` scope.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

/// A request from a person with their own token: 401 without valid credentials, 403 for
/// an API key or an impersonation token. For the routes that mint credentials (API keys,
/// webhook subscriptions, passwords, sessions): nothing a person hands out may make more.
#[derive(Debug, Clone)]
pub struct PersonUser(pub Principal);

/// `/api/<version>/admin/…`.
/// GET and HEAD: what read-only credentials may send.
pub(crate) fn is_read(method: &http::Method) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD)
}

fn is_admin_route(path: &str) -> bool {
    path.split('/').nth(3) == Some("admin")
}

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Already verified by the guard layer in front of the router.
        let principal = match parts.extensions.get::<Principal>() {
            Some(principal) => principal.clone(),
            None => {
                let authenticator = Authenticator::from_ref(state);
                let principal = authenticator
                    .authenticate(&parts.headers)
                    .await?
                    .ok_or_else(|| ApiError::Authentication("Not authenticated".into()))?;
                parts.extensions.insert(principal.clone());
                principal
            }
        };
        if !principal.scopes_allow(&parts.method, is_admin_route(parts.uri.path())) {
            return Err(ApiError::Authorization(
                "This API key's scopes do not allow this request".into(),
            ));
        }
        if principal.membership == Some(MemberRole::Viewer) && !is_read(&parts.method) {
            return Err(ApiError::Authorization(
                "A viewer of this organization may only read".into(),
            ));
        }
        Ok(AuthUser(principal))
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
        if !principal.scopes_allow(&parts.method, true) {
            return Err(ApiError::Authorization(
                "This API key has no admin scope".into(),
            ));
        }
        if !principal.is_admin() {
            return Err(ApiError::Authorization("Admin role required".into()));
        }
        Ok(AdminUser(principal))
    }
}

impl<S> FromRequestParts<S> for PersonUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if !principal.is_person() {
            return Err(ApiError::Authorization(
                "Only a person signed in with their own token may do this; not an API key or an impersonation token".into(),
            ));
        }
        Ok(PersonUser(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_routes_are_the_admin_area_of_any_version() {
        assert!(is_admin_route("/api/v1/admin/jobs"));
        assert!(is_admin_route("/api/v2/admin/users/42"));
        assert!(!is_admin_route("/api/v1/app/admin"));
        assert!(!is_admin_route("/api/v1/public/auth/login"));
    }
}
