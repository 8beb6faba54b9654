//! What the realtime function's tests share: API Gateway WebSocket events.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a panic with the value is the report"
)]

use fn_realtime::WebsocketEvent;
use serde_json::json;

/// An API Gateway WebSocket event for `route` on `connection` (ids like API Gateway's,
/// with characters that need encoding in a URL).
pub fn event(
    route: &str,
    connection: &str,
    query: Option<(&str, &str)>,
    body: Option<&str>,
) -> WebsocketEvent {
    let mut event = json!({
        "headers": {"Host": "wsabc12345.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {},
        "requestContext": {
            "routeKey": route,
            "eventType": match route { "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" },
            "messageDirection": "IN",
            "stage": "dev",
            "connectedAt": 1_773_310_530_000_i64,
            "requestTimeEpoch": 1_773_310_530_001_i64,
            "identity": {"sourceIp": "203.0.113.10"},
            "requestId": "req=",
            "domainName": "wsabc12345.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection,
            "apiId": "wsabc12345"
        },
        "isBase64Encoded": false
    });
    if let Some((name, value)) = query {
        event["queryStringParameters"] = json!({ name: value });
        event["multiValueQueryStringParameters"] = json!({ name: [value] });
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    serde_json::from_value(event).expect("a WebSocket event")
}
