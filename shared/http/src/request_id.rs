//! `X-Request-ID`: echo a sane incoming one, else API Gateway's id, else a new UUID.

use axum::extract::FromRequestParts;
use http::{Extensions, HeaderMap, HeaderValue, request::Parts};
use lambda_http::request::RequestContext;

/// The id of the current request; available to handlers as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

pub(crate) const HEADER: &str = "x-request-id";

impl RequestId {
    pub(crate) fn resolve(headers: &HeaderMap, extensions: &Extensions) -> Self {
        if let Some(incoming) = headers.get(HEADER).filter(|v| is_acceptable(v)) {
            return RequestId(incoming.clone());
        }
        let gateway_id = match extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.as_deref(),
            _ => None,
        };
        gateway_id
            .and_then(|id| HeaderValue::from_str(id).ok())
            .filter(is_acceptable)
            .map(RequestId)
            .unwrap_or_else(|| RequestId::from(uuid::Uuid::new_v4()))
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl From<uuid::Uuid> for RequestId {
    fn from(id: uuid::Uuid) -> Self {
        let text = id.hyphenated().to_string();
        RequestId(HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("unknown")))
    }
}

/// Ids end up in logs and headers: keep them short and free of anything but
/// `[A-Za-z0-9._:-]`, so a client cannot inject log lines or oversized headers.
fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::resolve(&parts.headers, &parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(value: &'static str) -> RequestId {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static(value));
        RequestId::resolve(&headers, &Extensions::new())
    }

    #[test]
    fn valid_incoming_id_is_echoed() {
        assert_eq!(resolve_with("abc-123_x.y").as_str(), "abc-123_x.y");
    }

    #[test]
    fn hostile_incoming_id_is_replaced_by_a_uuid() {
        let id = resolve_with("evil\tid with spaces");
        assert!(
            uuid::Uuid::parse_str(id.as_str()).is_ok(),
            "{}",
            id.as_str()
        );
    }
}
