//! Optimistic concurrency over HTTP: a versioned resource answers with `ETag: "<version>"`,
//! and a change may name the version it was made against in `If-Match`.

use axum::response::{AppendHeaders, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::Reply;
use aloft_core::ApiError;

/// `body` with `status` and the `ETag` of `version`.
pub fn with_etag<T: Serialize>(status: StatusCode, version: u64, body: T) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    (
        AppendHeaders([(header::ETAG, etag)]),
        Reply::with_status(status, body),
    )
        .into_response()
}

/// The version `If-Match` names: `None` without the header or for `*`; 412 when it cannot
/// be one of our ETags (of a `resource`, named in the message).
pub fn if_match(headers: &HeaderMap, resource: &str) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::PreconditionFailed(
                format!("If-Match does not name a version of this {resource}").into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_strong_and_weak_etags() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers, "project").unwrap(), None);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"7\""));
        assert_eq!(if_match(&headers, "project").unwrap(), Some(7));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"x\""));
        assert!(if_match(&headers, "project").is_err());
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers, "project").unwrap(), None);
    }

    #[test]
    fn the_etag_quotes_the_version() {
        let response = with_etag(StatusCode::CREATED, 3, serde_json::json!({}));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::ETAG], "\"3\"");
    }
}
