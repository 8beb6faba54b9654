//! OpenTelemetry export: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the edge and the worker keep the spans of
//! each request or batch ([`aloft_core::trace::collect`]: the request or message itself,
//! each AWS call, each outgoing call) and post them as OTLP/HTTP JSON before the
//! invocation returns: Lambda freezes the sandbox after that, so nothing may be left to a
//! background task. Unset, no exporter is built and nothing is kept.
//!
//! JSON rather than protobuf: the protocol allows it (`application/json`, ids as hex), a
//! collector's OTLP/HTTP receiver takes it, and it needs no encoder beyond the one every
//! function already links. Posted with the outbound client the functions use for
//! providers, so no second HTTP/TLS stack.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aloft_config::{ConfigError, Env};
use aloft_core::trace::{Attribute, SpanRecord};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, header};
use http_body_util::Full;
use serde_json::{Value, json};

/// Where and how spans are posted.
#[derive(Debug)]
pub struct Exporter {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    service: String,
    timeout: Duration,
    client: aloft_outbound::Client,
}

impl Exporter {
    /// The exporter the `OTEL_*` settings describe, or `None` when no endpoint is set:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// with `/v1/traces` appended; `OTEL_EXPORTER_OTLP_HEADERS` (`name=value,…`, values
    /// percent-decoded); `OTEL_SERVICE_NAME`, else the function's name; and
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds (default 2,000: the caller waits).
    pub fn from_env(env: &Env) -> Result<Option<Arc<Self>>, ConfigError> {
        let url = match (
            env.optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env.optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "OTEL_EXPORTER_OTLP_ENDPOINT",
                reason: format!("'{url}' is not an http(s) URL"),
            });
        }
        let headers = env
            .optional("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|raw| parse_headers(&raw))
            .transpose()?
            .unwrap_or_default();
        Ok(Some(Arc::new(Self {
            url,
            headers,
            service: env
                .optional("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| crate::metrics::function_name().to_owned()),
            timeout: Duration::from_millis(env.parse_or("OTEL_EXPORTER_OTLP_TIMEOUT", 2_000)?),
            client: aloft_outbound::Client::new(Duration::from_secs(1)),
        })))
    }

    /// Posts `spans`, waiting at most the timeout; a failure is logged, never the
    /// caller's.
    pub async fn export(&self, spans: Vec<SpanRecord>) {
        if spans.is_empty() {
            return;
        }
        let count = spans.len();
        let body = self.document(&spans).to_string();
        let mut request = Request::post(&self.url).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(e) => return tracing::warn!(error = %e, "OTLP export: bad request"),
        };
        match self.client.send(request, self.timeout).await {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), spans = count, "OTLP export refused")
            }
            Err(e) => tracing::warn!(error = %e, spans = count, "OTLP export failed"),
        }
    }

    /// An `ExportTraceServiceRequest` in OTLP's JSON mapping.
    fn document(&self, spans: &[SpanRecord]) -> Value {
        json!({"resourceSpans": [{
            "resource": {"attributes": [
                attribute("service.name", &Attribute::Text(self.service.clone())),
                attribute("cloud.provider", &Attribute::Text("aws".into())),
                attribute("faas.name", &Attribute::Text(crate::metrics::function_name().into())),
            ]},
            "scopeSpans": [{
                "scope": {"name": "aloft"},
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }]})
    }
}

fn span(record: &SpanRecord) -> Value {
    let mut span = json!({
        "traceId": record.trace_id,
        "spanId": record.span_id.to_string(),
        "name": record.name,
        "kind": record.kind as u8,
        "startTimeUnixNano": nanos(record.start),
        "endTimeUnixNano": nanos(record.end),
        "attributes": record
            .attributes
            .iter()
            .map(|(key, value)| attribute(key, value))
            .collect::<Vec<_>>(),
        // 1 OK, 2 ERROR.
        "status": {"code": if record.failed { 2 } else { 1 }},
    });
    if let Some(parent) = record.parent {
        span["parentSpanId"] = json!(parent.to_string());
    }
    span
}

fn attribute(key: &str, value: &Attribute) -> Value {
    let value = match value {
        Attribute::Text(text) => json!({"stringValue": text}),
        // 64-bit integers are strings in OTLP's JSON.
        Attribute::Int(number) => json!({"intValue": number.to_string()}),
    };
    json!({"key": key, "value": value})
}

fn nanos(at: SystemTime) -> String {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values
/// percent-encoded (the OpenTelemetry specification's format).
fn parse_headers(raw: &str) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "OTEL_EXPORTER_OTLP_HEADERS",
        reason,
    };
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid("a pair has no '='".into()))?;
            let mut value = HeaderValue::try_from(percent_decode(value.trim()))
                .map_err(|e| invalid(e.to_string()))?;
            // A backend's key: `Debug` (of the config, say) prints `Sensitive`.
            value.set_sensitive(true);
            Ok((
                HeaderName::try_from(name.trim()).map_err(|e| invalid(e.to_string()))?,
                value,
            ))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("v={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use aloft_core::trace::{SpanKind, TraceHeader};

    use super::*;

    #[test]
    fn unset_builds_nothing_and_the_endpoint_gets_its_path() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied());
        assert!(Exporter::from_env(&env(&[])).unwrap().is_none());
        let base = Exporter::from_env(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20abc,x-team=core",
            ),
            ("OTEL_SERVICE_NAME", "aloft-projects"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(base.url, "http://collector:4318/v1/traces");
        assert_eq!(base.headers[0].1, "Bearer abc");
        assert!(!format!("{base:?}").contains("abc"), "{base:?}");
        assert_eq!(base.headers[1].0, "x-team");
        assert_eq!(base.service, "aloft-projects");
        let traces = Exporter::from_env(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://other:4318/traces",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(traces.url, "http://other:4318/traces");
        assert!(
            Exporter::from_env(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")])).is_err()
        );
        assert!(
            Exporter::from_env(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals"),
            ]))
            .is_err()
        );
    }

    #[test]
    fn spans_are_written_in_otlp_json() {
        let exporter = Exporter::from_env(&Env::from_pairs([(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318",
        )]))
        .unwrap()
        .unwrap();
        let trace = TraceHeader::from_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            None,
        )
        .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let mut record = trace.finish(
            "GET /api/{version}/app/projects",
            SpanKind::Server,
            at,
            vec![("http.response.status_code", 500u16.into())],
            true,
        );
        record.end = at + Duration::from_millis(3);
        let document = exporter.document(&[record]);
        let span = &document["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(span["parentSpanId"], "b7ad6b7169203331");
        assert_eq!(span["spanId"], trace.span_id().to_string());
        assert_eq!(span["kind"], 2);
        assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(span["endTimeUnixNano"], "1700000000126456789");
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(
            span["attributes"][0],
            json!({"key": "http.response.status_code", "value": {"intValue": "500"}})
        );
        assert_eq!(
            document["resourceSpans"][0]["resource"]["attributes"][0]["key"],
            "service.name"
        );
    }
}
