//! The one error type of the HTTP edge and its envelope.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::envelope::{Envelope, json_response};

/// Every error code a client can see; the reference's table plus the HTTP-level ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    AuthenticationError,
    AuthorizationError,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    ValidationError,
    RateLimitExceeded,
    QuotaExceeded,
    MissingTenantCredentials,
    InternalError,
    ExternalServiceError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::AuthenticationError => StatusCode::UNAUTHORIZED,
            ErrorCode::AuthorizationError => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ValidationError => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimitExceeded | ErrorCode::QuotaExceeded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorCode::MissingTenantCredentials => StatusCode::FAILED_DEPENDENCY,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ExternalServiceError => StatusCode::BAD_GATEWAY,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::AuthenticationError => "AUTHENTICATION_ERROR",
            ErrorCode::AuthorizationError => "AUTHORIZATION_ERROR",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PreconditionFailed => "PRECONDITION_FAILED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::MissingTenantCredentials => "MISSING_TENANT_CREDENTIALS",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::ExternalServiceError => "EXTERNAL_SERVICE_ERROR",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

/// A failure to show the client, always rendered as
/// `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400 — malformed JSON or an unusable request.
    BadRequest(Cow<'static, str>),
    /// 401 — missing, expired or invalid credentials; adds `WWW-Authenticate: Bearer`.
    Authentication(Cow<'static, str>),
    /// 403 — authenticated, but the role is too low.
    Authorization(Cow<'static, str>),
    /// 404 — no such resource (or it belongs to another tenant).
    NotFound { resource: &'static str, id: String },
    /// 405 — the path exists, the method does not.
    MethodNotAllowed,
    /// 409 — the write conflicts with current state (duplicate, lost race).
    Conflict(Cow<'static, str>),
    /// 412 — `If-Match` did not match the current version.
    PreconditionFailed(Cow<'static, str>),
    /// 413 — the body is larger than the configured limit.
    PayloadTooLarge { limit: usize },
    /// 422 — a field breaks a rule; `details.field` names it.
    Validation {
        field: Cow<'static, str>,
        message: Cow<'static, str>,
    },
    /// 429 — rate limit hit; adds `Retry-After`. `window` names the limit refused
    /// (`minute`, `hour`, or `day` for the plan's daily allowance) and `limit` its size.
    RateLimited {
        retry_after: u64,
        window: &'static str,
        limit: u32,
    },
    /// 429 — the plan's allowance of `metric` for this period is used up.
    QuotaExceeded {
        metric: &'static str,
        limit: u64,
        used: u64,
        /// When the allowance starts again (ISO 8601); `None` for what never resets by
        /// itself (storage: freed by deleting).
        resets_at: Option<String>,
    },
    /// 424 — the organization requires its own provider keys and has none for any
    /// provider that could serve the request; `details.providers` names those.
    MissingTenantCredentials { providers: Vec<String> },
    /// 502 — a provider we called failed.
    ExternalService(Cow<'static, str>),
    /// 503 — a dependency is down or not configured; `details` may say which. A
    /// passing failure carries `retry_after` (seconds, also the `Retry-After` header);
    /// a missing setting does not.
    ServiceUnavailable {
        message: Cow<'static, str>,
        details: Option<Value>,
        retry_after: Option<u64>,
    },
    /// 500 — a bug or an unexpected failure. The cause is logged, never sent.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// The cause of a 500, carried in the response extensions so the edge logs it once.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl ApiError {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn validation(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A passing failure (a dependency throttled, slow or down): retry in a second.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::ServiceUnavailable {
            message: message.into(),
            details: None,
            retry_after: Some(1),
        }
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// The envelope for a bare framework response that only has a status.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest("Invalid request".into()),
            StatusCode::UNAUTHORIZED => ApiError::Authentication("Not authenticated".into()),
            StatusCode::FORBIDDEN => ApiError::Authorization("Access denied".into()),
            StatusCode::NOT_FOUND => ApiError::not_found("Resource", ""),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::validation("body", "Invalid value"),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::unavailable("Service unavailable"),
            s if s.is_client_error() => {
                ApiError::BadRequest(s.canonical_reason().unwrap_or("Invalid request").into())
            }
            _ => ApiError::internal(format!("bare {status} response from a handler")),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Authentication(_) => ErrorCode::AuthenticationError,
            ApiError::Authorization(_) => ErrorCode::AuthorizationError,
            ApiError::NotFound { .. } => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::Validation { .. } => ErrorCode::ValidationError,
            ApiError::RateLimited { .. } => ErrorCode::RateLimitExceeded,
            ApiError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            ApiError::MissingTenantCredentials { .. } => ErrorCode::MissingTenantCredentials,
            ApiError::ExternalService(_) => ErrorCode::ExternalServiceError,
            ApiError::ServiceUnavailable { .. } => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn message(&self) -> Cow<'static, str> {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Authentication(m)
            | ApiError::Authorization(m)
            | ApiError::Conflict(m)
            | ApiError::PreconditionFailed(m)
            | ApiError::ExternalService(m)
            | ApiError::ServiceUnavailable { message: m, .. } => m.clone(),
            ApiError::Validation { message, .. } => message.clone(),
            ApiError::NotFound { resource, .. } => format!("{resource} not found").into(),
            ApiError::MethodNotAllowed => "Method not allowed".into(),
            ApiError::PayloadTooLarge { .. } => "Request body too large".into(),
            ApiError::RateLimited { window: "day", .. } => {
                "Daily request limit of your plan reached".into()
            }
            ApiError::RateLimited { .. } => "Rate limit exceeded".into(),
            ApiError::QuotaExceeded { metric, .. } => {
                format!("Monthly {metric} quota of your plan is used up").into()
            }
            ApiError::MissingTenantCredentials { .. } => {
                "This organization uses its own provider keys, and has none for this request".into()
            }
            ApiError::Internal(_) => "Internal server error".into(),
        }
    }

    fn details(&self) -> Map<String, Value> {
        let details = match self {
            ApiError::NotFound { resource, id } if !id.is_empty() => {
                json!({ "resource": resource, "id": id })
            }
            ApiError::NotFound { resource, .. } => json!({ "resource": resource }),
            ApiError::Validation { field, .. } => json!({ "field": field }),
            ApiError::PayloadTooLarge { limit } if *limit > 0 => json!({ "max_bytes": limit }),
            ApiError::RateLimited {
                retry_after,
                window,
                limit,
            } => json!({ "retry_after": retry_after, "window": window, "limit": limit }),
            ApiError::QuotaExceeded {
                metric,
                limit,
                used,
                resets_at,
            } => {
                let mut details = json!({ "metric": metric, "limit": limit, "used": used });
                if let Some(resets_at) = resets_at {
                    details["resets_at"] = json!(resets_at);
                }
                details
            }
            ApiError::ServiceUnavailable {
                details: Some(details),
                ..
            } => details.clone(),
            ApiError::ServiceUnavailable {
                retry_after: Some(retry_after),
                ..
            } => json!({ "retry_after": retry_after }),
            ApiError::MissingTenantCredentials { providers } => json!({ "providers": providers }),
            _ => json!({}),
        };
        match details {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code().as_str(), self.message())
    }
}

impl ApiError {
    /// The envelope `{"error": {"code", "message", "details"}}`, for places that send an
    /// error without a response of its own (an `error` event of a stream).
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.code().as_str(),
                "message": self.message(),
                "details": self.details(),
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut response = json_response(code.status(), &self.body(), Envelope::Error);
        let headers = response.headers_mut();
        match &self {
            ApiError::Authentication(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::RateLimited { retry_after, .. }
            | ApiError::ServiceUnavailable {
                retry_after: Some(retry_after),
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Internal(cause) => {
                response
                    .extensions_mut()
                    .insert(InternalCause(cause.to_string()));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(error: ApiError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn validation_error_names_the_field() {
        let (status, body) = body_of(ApiError::validation("name", "Name is too long")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["message"], "Name is too long");
        assert_eq!(body["error"]["details"]["field"], "name");
    }

    #[tokio::test]
    async fn internal_error_hides_its_cause() {
        let (status, body) = body_of(ApiError::internal("table secret-table missing")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "Internal server error");
        assert!(!body.to_string().contains("secret-table"));
    }

    #[tokio::test]
    async fn a_passing_unavailability_says_when_to_retry_and_a_missing_setting_does_not() {
        let busy = ApiError::unavailable("Storage is temporarily unavailable").into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let body = busy.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["details"]["retry_after"], 1);
        let unset = ApiError::ServiceUnavailable {
            message: "Billing is not configured".into(),
            details: None,
            retry_after: None,
        }
        .into_response();
        assert!(!unset.headers().contains_key(header::RETRY_AFTER));
    }

    #[tokio::test]
    async fn rate_limit_carries_retry_after_in_header_and_details() {
        let limited = || ApiError::RateLimited {
            retry_after: 42,
            window: "minute",
            limit: 60,
        };
        let response = limited().into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        let (_, body) = body_of(limited()).await;
        assert_eq!(
            body["error"]["details"],
            json!({"retry_after": 42, "window": "minute", "limit": 60})
        );
        assert_eq!(body["error"]["message"], "Rate limit exceeded");
        let (_, body) = body_of(ApiError::RateLimited {
            retry_after: 3600,
            window: "day",
            limit: 5000,
        })
        .await;
        assert_eq!(
            body["error"]["message"],
            "Daily request limit of your plan reached"
        );
    }

    #[test]
    fn every_code_maps_to_its_status() {
        assert_eq!(ErrorCode::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ErrorCode::RateLimitExceeded.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            ErrorCode::ExternalServiceError.status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            serde_json::to_value(ErrorCode::AuthenticationError).unwrap(),
            ErrorCode::AuthenticationError.as_str()
        );
    }
}
