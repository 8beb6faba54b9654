//! What the edge tells operators about each request: one JSON log line (ids, route,
//! status, latency, caller, AWS usage), one EMF metrics document, and the trace the
//! request's work runs in. Logs are captured with the JSON formatter Lambda's JSON log
//! format selects; metrics with [`metrics::Capture`].
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    io,
    sync::{Arc, Mutex},
};

use aloft_config::Env;
use aloft_core::{ApiError, aws_usage};
use aloft_http::{CallerId, HttpConfig, Reply, TraceHeader, edge, metrics, versioned};
use axum::{Extension, Router, body::Body, extract::Path, routing::get};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const TRACE: &str = "Root=1-67a0c0de-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_ID: &str = "1-67a0c0de-0123456789abcdef01234567";

/// The log lines written on this thread while it lives, as JSON.
struct Logs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The subscriber `init_tracing` installs when `AWS_LAMBDA_LOG_FORMAT=JSON`.
    fn capture() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let json = aloft_http::subscriber(Some("info"), true, move || Sink(Arc::clone(&writer)));
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(json),
        }
    }

    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }
}

/// A project route that uses DynamoDB (as the store would record it), sees the trace
/// and is served for user `u-42`, plus routes that fail in the ways metrics count.
fn app(env: &[(&str, &str)]) -> Router {
    let routes = Router::new()
        .route("/app/projects/{project_id}", get(get_project))
        .route(
            "/app/broken",
            get(|| async { ApiError::internal("disk on fire") }),
        )
        .route(
            "/app/private",
            get(|| async { ApiError::Authentication("no token".into()) }),
        )
        .route(
            "/app/busy",
            get(|| async {
                ApiError::RateLimited {
                    retry_after: 3,
                    window: "minute",
                    limit: 60,
                }
            }),
        );
    edge(
        versioned(routes),
        &HttpConfig::from_env(&Env::from_pairs(env.iter().copied())).unwrap(),
    )
}

async fn get_project(Path(id): Path<String>) -> (Extension<CallerId>, Reply<Value>) {
    aws_usage::record(|usage| {
        usage.dynamodb_calls += 2;
        usage.dynamodb_read_units += 1.5;
        usage.dynamodb_write_units += 1.0;
    });
    let trace = TraceHeader::current().map(|t| t.as_str().to_owned());
    tracing::info!("the handler's own line");
    (
        Extension(CallerId("u-42".into())),
        Reply::ok(json!({"id": id, "owner_email": "owner@example.com", "trace": trace})),
    )
}

async fn call(
    app: Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, Value) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

/// The one log line of the request (the edge's), whatever else was logged.
fn request_line(logs: &Logs) -> Value {
    let lines: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|line| line["fields"]["http.route"].is_string())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

fn request_document(captured: &metrics::Capture) -> Value {
    let documents = captured.documents();
    assert_eq!(documents.len(), 1, "{documents:?}");
    documents[0].clone()
}

#[tokio::test]
async fn a_request_logs_one_json_line_with_ids_route_status_latency_caller_and_usage() {
    let logs = Logs::capture();
    let _metrics = metrics::Capture::start();
    let headers = [("x-request-id", "req-abc"), ("x-amzn-trace-id", TRACE)];

    let (status, _, body) = call(app(&[]), "/api/v2/app/projects/p-7", &headers).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["trace"], TRACE,
        "the handler runs in the request's trace"
    );
    let line = request_line(&logs);
    assert_eq!(line["level"], "INFO");
    let fields = &line["fields"];
    let latency = fields["latency_ms"].as_f64().unwrap();
    assert!((0.0..5000.0).contains(&latency), "{latency}");
    let span_id = fields["span_id"].as_str().unwrap();
    assert!(
        span_id.len() == 16 && span_id != "53995c3f42cd8ad8",
        "a span of its own: {span_id}"
    );
    assert_eq!(
        fields,
        &json!({
            "message": format!("GET /api/{{version}}/app/projects/{{project_id}} 200 in {latency:.1} ms"),
            "request_id": "req-abc",
            "trace_id": TRACE_ID,
            "span_id": span_id,
            "function": metrics::function_name(),
            "http.route": "/api/{version}/app/projects/{project_id}",
            "http.method": "GET",
            "http.status": 200,
            "latency_ms": latency,
            "user.id": "u-42",
            "ddb_rcu": 1.5,
            "ddb_wcu": 1.0,
            "ddb_calls": 2,
            "s3_calls": 0,
            "sqs_calls": 0
        })
    );
    assert!(
        !logs.text().contains("owner@example.com"),
        "no body in the logs"
    );
}

#[tokio::test]
async fn a_request_emits_one_emf_document_per_route_and_per_function() {
    let _logs = Logs::capture();
    let captured = metrics::Capture::start();

    call(app(&[]), "/api/v1/app/projects/p-7", &[]).await;

    let document = request_document(&captured);
    let function = metrics::function_name();
    let directives = &document["_aws"]["CloudWatchMetrics"];
    assert_eq!(directives[0]["Namespace"], "Aloft");
    assert_eq!(directives[0]["Dimensions"], json!([["Function", "Route"]]));
    let names = |d: &Value| -> Vec<String> {
        d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["Name"].as_str().unwrap(),
                    m["Unit"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        names(&directives[0]),
        [
            "Requests:Count",
            "ServerErrors:Count",
            "Latency:Milliseconds",
            "DynamoDbReadUnits:Count",
            "DynamoDbWriteUnits:Count"
        ]
    );
    assert_eq!(directives[1]["Dimensions"], json!([["Function"]]));
    assert!(
        names(&directives[1])
            .starts_with(&["RateLimited:Count".into(), "AuthFailures:Count".into()])
    );
    assert!(document["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(document["Function"], function);
    assert_eq!(
        document["Route"],
        "/api/{version}/app/projects/{project_id}"
    );
    assert_eq!(document["Requests"], 1.0);
    assert_eq!(document["ServerErrors"], 0.0);
    assert_eq!(document["DynamoDbReadUnits"], 1.5);
    assert_eq!(document["DynamoDbWriteUnits"], 1.0);
    assert_eq!(document["RateLimited"], 0.0);
    assert_eq!(document["AuthFailures"], 0.0);
    assert!(document["Latency"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn a_500_logs_its_cause_at_error_and_counts_a_server_error() {
    let logs = Logs::capture();
    let captured = metrics::Capture::start();

    let (status, _, body) = call(app(&[]), "/api/v1/app/broken", &[]).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !body.to_string().contains("disk on fire"),
        "the cause is never sent"
    );
    let line = request_line(&logs);
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["error.cause"], "disk on fire");
    assert_eq!(line["fields"]["http.status"], 500);
    assert!(
        line["fields"].get("user.id").is_none(),
        "no caller, no user id"
    );
    assert_eq!(request_document(&captured)["ServerErrors"], 1.0);
}

#[tokio::test]
async fn auth_failures_and_rate_limited_requests_are_counted_per_function() {
    let _logs = Logs::capture();
    for (path, counted) in [
        ("/api/v1/app/private", "AuthFailures"),
        ("/api/v1/app/busy", "RateLimited"),
    ] {
        let captured = metrics::Capture::start();
        call(app(&[]), path, &[]).await;
        let document = request_document(&captured);
        let other = if counted == "RateLimited" {
            "AuthFailures"
        } else {
            "RateLimited"
        };
        assert_eq!(document[counted], 1.0, "{path}: {document}");
        assert_eq!(document[other], 0.0, "{path}: {document}");
        assert_eq!(document["ServerErrors"], 0.0);
    }
}

#[tokio::test]
async fn an_unknown_path_is_logged_and_counted_as_the_unmatched_route() {
    let logs = Logs::capture();
    let captured = metrics::Capture::start();

    let (status, _, _) = call(app(&[]), "/api/v1/app/nowhere/123", &[]).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(request_line(&logs)["fields"]["http.route"], "unmatched");
    assert_eq!(request_document(&captured)["Route"], "unmatched");
}

#[tokio::test]
async fn without_an_incoming_trace_the_edge_starts_one_in_x_ray_format() {
    let logs = Logs::capture();
    let _metrics = metrics::Capture::start();

    let (_, _, body) = call(app(&[]), "/api/v1/app/projects/p-7", &[]).await;

    let header = body["trace"].as_str().unwrap();
    let trace = TraceHeader::parse(header).unwrap();
    assert_eq!(request_line(&logs)["fields"]["trace_id"], trace.trace_id());
    assert_ne!(trace.trace_id(), TRACE_ID);
}

#[tokio::test]
async fn the_usage_header_is_sent_only_when_configured() {
    let _logs = Logs::capture();
    let _metrics = metrics::Capture::start();
    let path = "/api/v1/app/projects/p-7";

    let (_, off, _) = call(app(&[]), path, &[]).await;
    let (_, on, _) = call(app(&[("AWS_USAGE_HEADER", "true")]), path, &[]).await;

    assert!(off.get(aws_usage::HEADER).is_none());
    let usage = on.get(aws_usage::HEADER).unwrap().to_str().unwrap();
    assert_eq!(
        aws_usage::AwsUsage::from_header_value(usage),
        Some(aws_usage::AwsUsage {
            dynamodb_calls: 2,
            dynamodb_read_units: 1.5,
            dynamodb_write_units: 1.0,
            s3_calls: 0,
            sqs_calls: 0,
        })
    );
}

#[test]
fn rust_log_directives_set_a_level_per_target() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Arc::clone(&buffer);
    let directives = Some("warn,aloft::cold_start=debug");
    let logs = aloft_http::subscriber(directives, true, move || Sink(Arc::clone(&writer)));
    tracing::subscriber::with_default(logs, || {
        tracing::info!("an info line elsewhere");
        tracing::warn!("a warning");
        tracing::debug!(target: "aloft::cold_start", "a cold start step");
        tracing::debug!(target: "aloft::other", "a debug line elsewhere");
    });
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    let messages: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["fields"]["message"].to_string())
        .collect();
    assert_eq!(
        messages,
        [r#""a warning""#, r#""a cold start step""#],
        "{text}"
    );
}

#[tokio::test]
async fn the_handlers_lines_carry_the_trace_and_the_requests_span() {
    let logs = Logs::capture();
    let _metrics = metrics::Capture::start();

    call(
        app(&[]),
        "/api/v1/app/projects/p-1",
        &[("x-amzn-trace-id", TRACE)],
    )
    .await;

    let span_id = request_line(&logs)["fields"]["span_id"].clone();
    let own: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|line| line["fields"]["message"] == "the handler's own line")
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["span"]["trace_id"], TRACE_ID);
    assert_eq!(own[0]["span"]["span_id"], span_id);
}

#[tokio::test]
async fn a_traceparent_is_continued_and_a_malformed_one_starts_a_new_trace() {
    let logs = Logs::capture();
    let _metrics = metrics::Capture::start();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    let (_, _, body) = call(
        app(&[]),
        "/api/v1/app/projects/p-2",
        &[("traceparent", parent), ("tracestate", "congo=t61rcWkgMzE")],
    )
    .await;

    // The X-Ray spelling of the caller's trace, continuing its span.
    let header = body["trace"].as_str().unwrap();
    assert!(
        header.starts_with("Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331"),
        "{header}"
    );
    assert_eq!(
        request_line(&logs)["fields"]["trace_id"],
        "1-0af76519-16cd43dd8448eb211c80319c"
    );

    for malformed in [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "zz-not-a-trace",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    ] {
        let (status, _, body) = call(
            app(&[]),
            "/api/v1/app/projects/p-3",
            &[("traceparent", malformed)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "never an error: {malformed}");
        let started = TraceHeader::parse(body["trace"].as_str().unwrap()).unwrap();
        assert_ne!(started.w3c_trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(started.parent_id(), None, "a new trace: {malformed}");
    }
}
