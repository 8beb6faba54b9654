//! JSON response bodies tagged with their envelope kind, so the edge can shape them for
//! v2 without re-parsing them.

use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::ApiError;

/// What kind of JSON body a response carries. Bodies without this marker (HTML, OpenAPI
/// documents) pass the edge as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// A success body: v2 wraps it as `{"data": …, "meta": …}`.
    Data,
    /// An `{"error": …}` body: v2 adds `"meta"` beside `"error"`.
    Error,
}

/// Serializes `body` as a JSON response tagged with its envelope kind.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T, envelope: Envelope) -> Response {
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
