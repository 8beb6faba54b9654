//! The ids that follow a request. `X-Request-ID`: echo a sane incoming one, else API
//! Gateway's id, else a new UUID. The X-Ray trace header ([`TraceHeader`]): the
//! invocation's, else the request's `X-Amzn-Trace-Id`, else a new one; it rides SQS
//! messages (`AWSTraceHeader`) into workers, so one trace id follows a request's effects.

use std::{fmt::Write, future::Future};

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

/// An X-Ray trace header (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=…;Sampled=1`),
/// checked to be well formed and to carry a root trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    header: String,
    /// Where the `Root=` value starts in `header`; it is [`ROOT_LEN`] long.
    root_at: usize,
}

/// `1-` + 8 hex digits of epoch seconds + `-` + 24 hex digits.
const ROOT_LEN: usize = 35;
const TRACE_HEADER: &str = "x-amzn-trace-id";

tokio::task_local! {
    static CURRENT_TRACE: TraceHeader;
}

impl TraceHeader {
    /// `None` unless `raw` is a trace header of at most 256 characters of
    /// `[A-Za-z0-9=;:-]` with a valid `Root`: it is logged and sent on to SQS.
    pub fn parse(raw: &str) -> Option<Self> {
        let sane = raw.len() <= 256
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b';' | b':' | b'-'));
        if !sane {
            return None;
        }
        let mut offset = 0;
        for part in raw.split(';') {
            if let Some(root) = part.strip_prefix("Root=")
                && is_root(root)
            {
                return Some(Self {
                    header: raw.to_owned(),
                    root_at: offset + "Root=".len(),
                });
            }
            offset += part.len() + 1;
        }
        None
    }

    /// A new trace, for work that arrives without one (the local stack has no X-Ray):
    /// `Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`.
    pub fn generate() -> Self {
        let random = uuid::Uuid::new_v4().into_bytes();
        // A v4 UUID's bytes 6 and 8 hold its version and variant: take the others.
        let mut hex = String::with_capacity(24);
        for byte in random[..6].iter().chain(&random[10..]) {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        let epoch = aloft_core::timestamp::unix_now() & 0xffff_ffff;
        Self {
            header: format!("Root=1-{epoch:08x}-{hex}"),
            root_at: "Root=".len(),
        }
    }

    /// The trace id: the `Root` value, `1-5759e988-bd862e3fe1be46a994272793`.
    pub fn trace_id(&self) -> &str {
        &self.header[self.root_at..self.root_at + ROOT_LEN]
    }

    /// The whole header, as X-Ray and SQS's `AWSTraceHeader` take it.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The trace of the request or message being served, inside [`Self::scope`]. A
    /// `tokio::spawn`ed task does not inherit it.
    pub fn current() -> Option<Self> {
        CURRENT_TRACE.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this as the [`Self::current`] trace.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT_TRACE.scope(self, work).await
    }

    /// The invocation's trace (Lambda's `Context`), else the request's
    /// `X-Amzn-Trace-Id`, else a new one.
    pub(crate) fn resolve(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let invocation = extensions
            .get::<lambda_http::Context>()
            .and_then(|context| context.xray_trace_id.as_deref());
        let incoming = || headers.get(TRACE_HEADER)?.to_str().ok();
        invocation
            .and_then(Self::parse)
            .or_else(|| incoming().and_then(Self::parse))
            .unwrap_or_else(Self::generate)
    }
}

fn is_root(root: &str) -> bool {
    let bytes = root.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    bytes.len() == ROOT_LEN
        && bytes.starts_with(b"1-")
        && bytes[10] == b'-'
        && hex(2..10)
        && hex(11..ROOT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn a_trace_header_yields_its_root_wherever_it_stands() {
        for raw in [
            format!("Root={ROOT}"),
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("Self=1-67891234-12456789abcdef012345678;Root={ROOT};Sampled=0"),
        ] {
            let trace = TraceHeader::parse(&raw).unwrap();
            assert_eq!(trace.trace_id(), ROOT);
            assert_eq!(trace.as_str(), raw);
        }
    }

    #[test]
    fn malformed_or_hostile_trace_headers_are_refused() {
        for raw in [
            "",
            "Root=",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759E988-bd862e3fe1be46a994272793",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793\nINFO forged",
            "Root=1-5759e988-bd862e3fe1be46a994272793 x",
        ] {
            assert_eq!(TraceHeader::parse(raw), None, "{raw:?}");
        }
        let long = format!("Root={ROOT};{}", "a".repeat(300));
        assert_eq!(TraceHeader::parse(&long), None);
    }

    #[test]
    fn generated_traces_are_valid_and_distinct() {
        let (a, b) = (TraceHeader::generate(), TraceHeader::generate());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceHeader::parse(a.as_str()), Some(a.clone()));
        let epoch = u64::from_str_radix(&a.trace_id()[2..10], 16).unwrap();
        assert!(epoch.abs_diff(aloft_core::timestamp::unix_now()) < 5);
    }

    #[test]
    fn the_invocation_trace_wins_then_the_request_header_then_a_new_one() {
        let mut headers = HeaderMap::new();
        let incoming = "Root=1-5759e988-000000000000000000000001";
        headers.insert(TRACE_HEADER, HeaderValue::from_static(incoming));
        let mut extensions = Extensions::new();
        assert_eq!(
            TraceHeader::resolve(&headers, &extensions).as_str(),
            incoming
        );
        let mut context = lambda_http::Context::default();
        context.xray_trace_id = Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"));
        extensions.insert(context);
        assert_eq!(TraceHeader::resolve(&headers, &extensions).trace_id(), ROOT);
        let fresh = TraceHeader::resolve(&HeaderMap::new(), &Extensions::new());
        assert_ne!(fresh.trace_id(), ROOT);
    }

    #[tokio::test]
    async fn the_current_trace_is_the_scopes() {
        assert_eq!(TraceHeader::current(), None);
        let trace = TraceHeader::generate();
        let inside = trace.clone().scope(async { TraceHeader::current() }).await;
        assert_eq!(inside, Some(trace));
    }

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
