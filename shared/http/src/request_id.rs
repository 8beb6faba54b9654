//! The ids that follow a request. `X-Request-ID`: echo a sane incoming one, else API
//! Gateway's id, else a new UUID. The trace ([`TraceHeader`]): the caller's W3C
//! `traceparent`, else the invocation's X-Ray trace, else the request's `X-Amzn-Trace-Id`,
//! else a new one; it rides SQS messages (`AWSTraceHeader`) into workers and outgoing
//! calls (`traceparent`), so one trace id follows a request's effects.

pub use aloft_core::trace::TraceHeader;
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

const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The trace a request runs in: a valid W3C `traceparent` (with its `tracestate`)
/// continues the caller's trace; else the invocation's X-Ray trace (Lambda's `Context`),
/// else the request's `X-Amzn-Trace-Id`; else a new one. The second value is the
/// invocation's X-Ray trace id when the caller's trace replaced it, to log beside it.
pub(crate) fn resolve_trace(
    headers: &HeaderMap,
    extensions: &Extensions,
) -> (TraceHeader, Option<String>) {
    let invocation = extensions
        .get::<lambda_http::Context>()
        .and_then(|context| context.xray_trace_id.as_deref())
        .and_then(TraceHeader::parse);
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    // Several `tracestate` fields are one list (W3C): join them.
    let tracestate = headers
        .get_all("tracestate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let continued = header("traceparent")
        .and_then(|parent| TraceHeader::from_traceparent(parent, Some(&tracestate)));
    if let Some(trace) = continued {
        let linked = invocation
            .map(|xray| xray.trace_id().to_owned())
            .filter(|id| id != trace.trace_id());
        return (trace, linked);
    }
    let trace = invocation
        .or_else(|| header(TRACE_HEADER).and_then(TraceHeader::parse))
        .unwrap_or_else(TraceHeader::generate);
    (trace, None)
}
