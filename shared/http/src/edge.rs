//! The layer stack every HTTP function applies: [`edge`] wraps a router, [`run`] serves
//! it on Lambda.

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::Uri,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::{
    ApiVersion, Deprecation, HttpConfig, RequestId, TraceHeader,
    metrics::{self, Metric, MetricSet},
    request_id,
};
use aloft_core::{
    ApiError, InternalCause,
    aws_usage::{self, AwsUsage},
    cold_start,
    envelope::Envelope,
    timestamp,
    trace::{self, SpanKind},
};

/// The id of the user a request was served for. The auth guard puts it in the response's
/// extensions (this crate does not know its `Principal`); the edge logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId(pub String);

/// Wraps a function's router with everything a response needs: the envelope for every
/// error (including unknown routes, wrong methods and oversize bodies), v2 shaping,
/// request id, version, deprecation and security headers, panic safety, the trace
/// header of the request's work ([`TraceHeader::current`]), and one log line and one
/// EMF metrics document per request.
pub fn edge(router: Router, config: &HttpConfig) -> Router {
    router
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(middleware::from_fn_with_state(
            Arc::new(config.clone()),
            finish_response,
        ))
}

/// Serves `app` on the Lambda runtime until the sandbox ends. Every function's `main`
/// runs on tokio's current-thread runtime: Lambda hands a sandbox one event at a time, so
/// worker threads would only add their start-up to each cold start (docs/performance.md).
pub async fn run(app: Router) -> Result<(), lambda_http::Error> {
    cold_start::mark("state and router built");
    lambda_http::run(app).await
}

/// Structured logs, honouring `AWS_LAMBDA_LOG_FORMAT` (JSON when deployed) and the level
/// in `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (INFO by default), as lambda_runtime's own
/// subscriber does. Call first in `main`; it also reads the function's name for logs and
/// metrics, once.
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    cold_start::begin();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    subscriber(level.ok().as_deref(), json, std::io::stdout).init();
    metrics::function_name();
    cold_start::mark("tracing");
}

/// The subscriber [`init_tracing`] installs, writing to `writer`: `directives` are
/// `RUST_LOG`'s (`info`, `aloft::cold_start=debug,warn`), read as per-target levels
/// (`Targets`) rather than by an `EnvFilter`, whose regex engine every binary carried for
/// span and field filters no function uses. Unreadable or unset: INFO.
pub fn subscriber<W>(
    directives: Option<&str>,
    json: bool,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::{Layer as _, filter::Targets, fmt, layer::SubscriberExt as _};
    let filter = directives
        .filter(|d| !d.trim().is_empty())
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let layer = fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let layer = if json {
        layer.json().boxed()
    } else {
        layer.boxed()
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::not_found("Route", uri.path())
}

async fn finish_response(
    State(config): State<Arc<HttpConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let started_at = SystemTime::now();
    cold_start::mark_first_request("first request in");
    let version = ApiVersion::detect(request.uri().path(), request.headers());
    let request_id = RequestId::resolve(request.headers(), request.extensions());
    let (trace, xray_trace_id) = request_id::resolve_trace(request.headers(), request.extensions());
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(version);
    let route = route_template(request.extensions().get::<MatchedPath>());
    let method = request.method().clone();

    // Every line the handler logs carries the trace and this request's span.
    let span = tracing::info_span!(
        "request",
        trace_id = trace.trace_id(),
        span_id = %trace.span_id()
    );
    let work = trace
        .clone()
        .scope(aws_usage::measure(next.run(request)))
        .instrument(span);
    let ((mut response, usage), spans) = match &config.otlp {
        Some(_) => trace::collect(work).await,
        None => (work.await, Vec::new()),
    };
    let caller = response.extensions_mut().remove::<CallerId>();
    let cause = response.extensions_mut().remove::<InternalCause>();
    if response.status().as_u16() >= 400 && response.extensions().get::<Envelope>().is_none() {
        response = envelope_bare_error(response);
    }
    if version == ApiVersion::V2 {
        response = wrap_for_v2(response, &request_id).await;
    }
    set_headers(
        response.headers_mut(),
        version,
        &request_id,
        &config.deprecation,
    );
    if config.aws_usage_header
        && let Ok(value) = HeaderValue::from_str(&usage.to_header_value())
    {
        response.headers_mut().insert(aws_usage::HEADER, value);
    }
    let served = Served {
        request_id: &request_id,
        trace: &trace,
        xray_trace_id: xray_trace_id.as_deref(),
        route: &route,
        method: &method,
        status: response.status().as_u16(),
        // Whole microseconds: a short, exact number in the log line and the metric.
        latency_ms: started.elapsed().as_micros() as f64 / 1000.0,
        caller: caller.as_ref(),
        usage: &usage,
    };
    served.log(cause.as_ref());
    served.emit_metrics();
    if let Some(exporter) = &config.otlp {
        let status = response.status().as_u16();
        let mut spans = spans;
        spans.push(trace.finish(
            format!("{method} {route}"),
            SpanKind::Server,
            started_at,
            vec![
                ("http.request.method", method.as_str().into()),
                ("http.route", route.as_str().into()),
                ("http.response.status_code", status.into()),
                ("aloft.request_id", request_id.as_str().into()),
            ],
            status >= 500,
        ));
        exporter.export(spans).await;
    }
    cold_start::first_request_done();
    response
}

/// Framework responses (405 from the router, 413 from a body limit) carry only a status;
/// give them our envelope and keep their headers (`Allow`, for one).
fn envelope_bare_error(bare: Response) -> Response {
    let (parts, _) = bare.into_parts();
    let mut response = ApiError::from_status(parts.status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// The route template a request matched, with its version as `{version}`
/// (`/api/{version}/app/projects/{project_id}`): a low-cardinality name for logs and the
/// `Route` dimension.
fn route_template(matched: Option<&MatchedPath>) -> String {
    let Some(matched) = matched else {
        return UNMATCHED.to_owned();
    };
    let path = matched.as_str();
    ApiVersion::ALL
        .iter()
        .find_map(|v| {
            path.strip_prefix("/api/")?
                .strip_prefix(v.as_str())?
                .strip_prefix('/')
        })
        .map_or_else(
            || path.to_owned(),
            |rest| format!("/api/{{version}}/{rest}"),
        )
}

/// The route of requests no route matched (404s of the fallback).
const UNMATCHED: &str = "unmatched";

/// What the edge knows about a request once it is answered.
struct Served<'a> {
    request_id: &'a RequestId,
    trace: &'a TraceHeader,
    /// The invocation's X-Ray trace, when the caller's `traceparent` replaced it.
    xray_trace_id: Option<&'a str>,
    route: &'a str,
    method: &'a Method,
    status: u16,
    latency_ms: f64,
    caller: Option<&'a CallerId>,
    usage: &'a AwsUsage,
}

impl Served<'_> {
    /// The request's one log line; never a body, a token or an email.
    fn log(&self, cause: Option<&InternalCause>) {
        let (status, route, method, latency) =
            (self.status, self.route, self.method, self.latency_ms);
        let (request_id, trace_id) = (self.request_id.as_str(), self.trace.trace_id());
        let (span_id, xray_trace_id) = (self.trace.span_id(), self.xray_trace_id);
        let user_id = self.caller.map(|c| c.0.as_str());
        let usage = self.usage;
        // One field list for both levels (a tracing level must be a constant).
        macro_rules! request_line {
            ($level:ident, $($rest:tt)*) => {
                tracing::$level!(
                    request_id,
                    trace_id,
                    span_id = %span_id,
                    xray_trace_id,
                    function = metrics::function_name(),
                    http.route = route,
                    http.method = %method,
                    http.status = status,
                    latency_ms = latency,
                    user.id = user_id,
                    ddb_rcu = usage.dynamodb_read_units,
                    ddb_wcu = usage.dynamodb_write_units,
                    ddb_calls = usage.dynamodb_calls,
                    s3_calls = usage.s3_calls,
                    sqs_calls = usage.sqs_calls,
                    $($rest)*
                )
            };
        }
        match cause {
            Some(InternalCause(cause)) => request_line!(
                error,
                error.cause = cause.as_str(),
                "{method} {route} failed with {status} in {latency:.1} ms: {cause}"
            ),
            None => request_line!(info, "{method} {route} {status} in {latency:.1} ms"),
        }
    }

    /// The request's one EMF document: requests, 5xx, latency and DynamoDB capacity per
    /// function and route; rate-limited requests, auth failures and the cold start per
    /// function.
    fn emit_metrics(&self) {
        let function = metrics::function_name();
        let flag = |status: u16| if self.status == status { 1.0 } else { 0.0 };
        let per_route = [
            Metric::count("Requests", 1.0),
            Metric::count("ServerErrors", if self.status >= 500 { 1.0 } else { 0.0 }),
            Metric::milliseconds("Latency", self.latency_ms),
            Metric::count("DynamoDbReadUnits", self.usage.dynamodb_read_units),
            Metric::count("DynamoDbWriteUnits", self.usage.dynamodb_write_units),
        ];
        let per_function = [
            Metric::count("RateLimited", flag(429)),
            Metric::count("AuthFailures", flag(401)),
            Metric::count("ColdStarts", 1.0),
        ];
        let cold = metrics::cold_start();
        metrics::emit(&[
            MetricSet {
                dimensions: &[("Function", function), ("Route", self.route)],
                metrics: &per_route,
            },
            MetricSet {
                dimensions: &[("Function", function)],
                metrics: if cold {
                    &per_function
                } else {
                    &per_function[..2]
                },
            },
        ]);
    }
}

/// v2 puts success bodies under `data` and adds `meta` beside both `data` and `error`.
/// Our bodies are complete JSON objects we serialized ourselves, so splicing bytes is
/// safe and saves a parse and a re-serialization.
async fn wrap_for_v2(response: Response, request_id: &RequestId) -> Response {
    let Some(envelope) = response.extensions().get::<Envelope>().copied() else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal("response body could not be read").into_response();
    };
    let meta = serde_json::json!({
        "request_id": request_id.as_str(),
        "timestamp": timestamp::now(),
        "version": ApiVersion::V2.as_str(),
    })
    .to_string();
    let mut wrapped = Vec::with_capacity(bytes.len() + meta.len() + 20);
    match envelope {
        Envelope::Data => {
            wrapped.extend_from_slice(b"{\"data\":");
            wrapped.extend_from_slice(&bytes);
        }
        Envelope::Error => {
            let object_body = bytes.strip_suffix(b"}").unwrap_or(&bytes);
            wrapped.extend_from_slice(object_body);
        }
    }
    wrapped.extend_from_slice(b",\"meta\":");
    wrapped.extend_from_slice(meta.as_bytes());
    wrapped.push(b'}');
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(wrapped))
}

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("content-security-policy", "default-src 'self'"),
];

fn set_headers(
    headers: &mut HeaderMap,
    version: ApiVersion,
    request_id: &RequestId,
    deprecation: &Deprecation,
) {
    headers.insert(
        HeaderName::from_static(request_id::HEADER),
        request_id.0.clone(),
    );
    headers.insert("x-api-version", version.header_value());
    headers.insert("x-api-latest-version", ApiVersion::LATEST.header_value());
    // A page that needs a looser policy (the docs UI) sets its own before we get here.
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if deprecation.versions.iter().any(|v| v == version.as_str()) {
        headers.insert("deprecation", HeaderValue::from_static("true"));
        if let Some(sunset) = &deprecation.sunset {
            headers.insert("sunset", sunset.clone());
        }
        let latest = ApiVersion::LATEST.as_str();
        if let Ok(link) =
            HeaderValue::from_str(&format!("</api/{latest}/>; rel=\"successor-version\""))
        {
            headers.insert(header::LINK, link);
        }
        if let Ok(notice) = HeaderValue::from_str(&format!(
            "API {} is deprecated; move to {latest}",
            version.as_str()
        )) {
            headers.insert("x-deprecation-notice", notice);
        }
    }
}
