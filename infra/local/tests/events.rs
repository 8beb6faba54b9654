//! The sample events in `events/` are what `cargo lambda invoke --data-file` sends: each
//! must be a valid event of its Lambda type.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aws_lambda_events::{
    apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest},
    sqs::SqsEvent,
};
use serde::de::DeserializeOwned;

fn parse<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn http_events_are_api_gateway_v2_requests() {
    for (name, path) in [
        ("health-bench.json", "/api/v2/public/health"),
        ("health-ready.json", "/api/v1/public/health/ready"),
        ("docs-bench.json", "/openapi.json"),
    ] {
        let event: ApiGatewayV2httpRequest = parse(name);
        assert_eq!(event.raw_path.as_deref(), Some(path), "{name}");
    }
}

#[test]
fn sqs_event_is_a_batch() {
    let event: SqsEvent = parse("sqs-batch.json");
    assert_eq!(event.records.len(), 2);
    assert!(event.records.iter().all(|r| r.message_id.is_some()));
}

#[test]
fn websocket_event_is_a_connect() {
    let event: ApiGatewayWebsocketProxyRequest = parse("websocket-connect.json");
    assert_eq!(event.request_context.route_key.as_deref(), Some("$connect"));
}
