//! Success responses, tagged so the edge can shape them per version.

use aloft_core::envelope::{Envelope, json_response};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

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
