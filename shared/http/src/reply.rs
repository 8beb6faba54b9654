//! Success responses, and the marker that lets the edge shape bodies per version.

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::ApiError;

/// What kind of JSON body a response carries, so the edge knows how to shape it for v2
/// without re-parsing it. Bodies without this marker (HTML, OpenAPI documents) pass as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// A success body: v2 wraps it as `{"data": …, "meta": …}`.
    Data,
    /// An `{"error": …}` body: v2 adds `"meta"` beside `"error"`.
    Error,
}

/// A JSON success response in the reference's (v1) shape; the edge wraps it for v2.
#[derive(Debug)]
pub struct Reply<T> {
    status: StatusCode,
    body: T,
}

impl<T: Serialize> Reply<T> {
    /// 200 OK.
    pub fn ok(body: T) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    /// 201 Created.
    pub fn created(body: T) -> Self {
        Self::with_status(StatusCode::CREATED, body)
    }

    pub fn with_status(status: StatusCode, body: T) -> Self {
        Self { status, body }
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body, Envelope::Data)
    }
}

/// Serializes `body` as a JSON response tagged with its envelope kind.
pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    envelope: Envelope,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response.extensions_mut().insert(envelope);
            response
        }
        // Only reachable with a broken Serialize impl; our error body always serializes.
        Err(e) if envelope == Envelope::Data => ApiError::internal(e).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
