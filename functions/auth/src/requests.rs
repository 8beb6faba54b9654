//! Request and response bodies, parsed into checked values.

use aloft_core::ApiError;
use aloft_http::Json;
use axum::extract::{FromRequest, Request};
use http::header;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /public/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Becomes the login; compared case-insensitively.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// At most 255 characters.
    #[schema(max_length = 255)]
    pub full_name: Option<String>,
}

/// A well-formed registration.
#[derive(Debug)]
pub(crate) struct Registration {
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
}

impl RegisterRequest {
    pub(crate) fn parse(self) -> Result<Registration, ApiError> {
        let email = aloft_auth::parse_email(&self.email)?;
        aloft_auth::Passwords::check_rule("password", &self.password)?;
        let full_name = self
            .full_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if full_name.as_ref().is_some_and(|n| n.chars().count() > 255) {
            return Err(ApiError::validation(
                "full_name",
                "Full name must be at most 255 characters",
            ));
        }
        Ok(Registration {
            email,
            password: self.password,
            full_name,
        })
    }
}

/// `POST /public/auth/login` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /public/auth/login` as an OAuth2 password form (`username=…&password=…`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The email address.
    pub username: String,
    pub password: String,
}

/// Credentials from either body format.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub email: String,
    pub password: String,
    /// A form's `Origin` that is not the API's own (`Host`): a page elsewhere posted it.
    /// A JSON body cannot come cross-site without a CORS preflight; a form can.
    pub foreign_origin: Option<String>,
}

/// The `Origin` of a request unless it names the request's own host.
fn foreign_origin(headers: &http::HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    (origin_host != host).then(|| origin.to_owned())
}

impl<S: Send + Sync> FromRequest<S> for Credentials {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let foreign_origin = foreign_origin(req.headers());
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
                    _ => ApiError::BadRequest("Could not read the request body".into()),
                })?;
            let form: LoginForm = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
                ApiError::validation("username", format!("Invalid login form: {e}"))
            })?;
            return Ok(Credentials {
                email: form.username,
                password: form.password,
                foreign_origin,
            });
        }
        let Json(body) = Json::<LoginRequest>::from_request(req, state).await?;
        Ok(Credentials {
            email: body.email,
            password: body.password,
            foreign_origin: None,
        })
    }
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(email: &str, password: &str) -> Result<Registration, ApiError> {
        RegisterRequest {
            email: email.into(),
            password: password.into(),
            full_name: None,
        }
        .parse()
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::Validation { field, .. } => field.into_owned(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn email_is_normalized() {
        assert_eq!(
            register(" Ann@Example.COM ", "long enough").unwrap().email,
            "ann@example.com"
        );
    }

    #[test]
    fn bad_emails_and_passwords_name_their_field() {
        for email in [
            "",
            "no-at-sign",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@.com",
        ] {
            assert_eq!(
                field_of(register(email, "long enough").unwrap_err()),
                "email",
                "{email}"
            );
        }
        assert_eq!(
            field_of(register("a@example.com", "short").unwrap_err()),
            "password"
        );
        let long = "x".repeat(129);
        assert_eq!(
            field_of(register("a@example.com", &long).unwrap_err()),
            "password"
        );
    }
}
