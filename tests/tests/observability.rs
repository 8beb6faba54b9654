//! Observability end to end, through the running local stack: one trace id follows a
//! provider webhook from the edge's log line of its receipt to the worker's log line for
//! the same event, and both ends write their EMF metrics. Reads what the functions wrote
//! to cargo lambda watch's output (`.local/watch.log`, infra/stack.sh's `$STATE`; or
//! `ALOFT_WATCH_LOG`), where the local stack logs in the human-readable format.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use aloft_e2e::{Stack, eventually};
use aloft_testkit::receiver;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `STRIPE_WEBHOOK_SECRET` of the local stack (infra/stack.sh's local default).
const STRIPE_SECRET: &str = "whsec_local_stripe_signing_secret";

fn watch_log() -> PathBuf {
    std::env::var_os("ALOFT_WATCH_LOG").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/watch.log"),
        PathBuf::from,
    )
}

/// The functions' output so far, line by line, without terminal colours.
fn log_lines() -> Vec<String> {
    let raw = std::fs::read(watch_log()).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .lines()
        .map(strip_ansi)
        .collect()
}

fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The quoted value of `field` in a human-readable tracing line (`field="value"`).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

/// The EMF documents written so far.
fn metric_documents() -> Vec<Value> {
    log_lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(&line[line.find("{\"_aws\"")?..]).ok())
        .collect()
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn an_authenticated_request_is_logged_with_its_route_status_and_caller() {
    let stack = Stack::new();
    let (bearer, email) = stack.new_user("logged").await;
    let user_id = stack.user_id(&bearer).await;
    let request_id = format!("obs-me-{}", nanos());

    let me = stack
        .send(
            Method::GET,
            "/api/v2/app/users/me",
            &[("authorization", &bearer), ("x-request-id", &request_id)],
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);

    let line = eventually("the request's log line", async || {
        log_lines()
            .into_iter()
            .find(|line| field(line, "request_id") == Some(request_id.as_str()))
    })
    .await;
    assert_eq!(field(&line, "user.id"), Some(user_id.as_str()), "{line}");
    assert_eq!(
        field(&line, "http.route"),
        Some("/api/{version}/app/users/me")
    );
    assert!(line.contains(" http.status=200"), "{line}");
    assert!(field(&line, "trace_id").is_some(), "{line}");
    assert!(!line.contains(&email), "no email in the logs: {line}");
    assert!(
        !line.contains(bearer.trim_start_matches("Bearer ")),
        "no token: {line}"
    );
}

#[tokio::test]
async fn a_webhooks_trace_id_reaches_the_worker_log_line_for_the_same_event() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("trace").await;
    let user_id = stack.user_id(&bearer).await;
    let request_id = format!("obs-{}", nanos());
    let event_id = format!("evt_obs_{}", nanos());
    let now = i64::try_from(nanos() / 1_000_000_000).unwrap();
    let body = json!({
        "id": event_id,
        "type": "checkout.session.completed",
        "created": now,
        "data": {"object": {
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": user_id,
            "customer": format!("cus_{}", nanos()),
        }}
    })
    .to_string();

    let answer = stack
        .send_body(
            Method::POST,
            "/api/v1/public/webhooks/stripe",
            &[
                ("content-type", "application/json"),
                ("x-request-id", &request_id),
                (
                    "stripe-signature",
                    &receiver::signature_header(STRIPE_SECRET, now, &body),
                ),
            ],
            &body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Receipt: the edge's one line for the request names its route and trace.
    let receipt = eventually("the edge's log line of the webhook", async || {
        log_lines()
            .into_iter()
            .find(|line| field(line, "request_id") == Some(request_id.as_str()))
    })
    .await;
    assert_eq!(
        field(&receipt, "http.route"),
        Some("/api/{version}/public/webhooks/{provider}"),
        "{receipt}"
    );
    let trace_id = field(&receipt, "trace_id").unwrap().to_owned();
    assert!(
        trace_id.starts_with("1-") && trace_id.len() == 35,
        "{receipt}"
    );

    // Effect: the worker's line for the job of this event carries the same trace id.
    let processed = eventually("the worker's log line of the event", async || {
        log_lines().into_iter().find(|line| {
            field(line, "trace_id") == Some(trace_id.as_str())
                && line.contains("(provider.event) succeeded")
        })
    })
    .await;
    assert!(processed.contains(&trace_id), "{processed}");

    let documents = eventually("both ends' metrics", async || {
        let documents = metric_documents();
        let verified = documents
            .iter()
            .any(|d| d["WebhooksVerified"] == 1.0 && d["Provider"] == "stripe");
        let succeeded = documents
            .iter()
            .any(|d| d["JobsSucceeded"] == 1.0 && d["Kind"] == "provider.event");
        (verified && succeeded).then_some(documents)
    })
    .await;
    let request = documents
        .iter()
        .find(|d| d["Route"] == "/api/{version}/public/webhooks/{provider}")
        .unwrap();
    assert_eq!(request["Requests"], 1.0);
    assert_eq!(request["Function"], "webhooks");
    assert_eq!(
        request["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function", "Route"]])
    );
}
