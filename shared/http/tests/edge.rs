//! The edge as a client sees it: a real router wrapped by `edge`, driven with requests.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_core::{ApiError, PageParams};
use aloft_http::{HttpConfig, Json, Query, Reply, edge};
use axum::{
    Router,
    body::Body,
    routing::{get, post},
};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app_with(env: &[(&str, &str)]) -> Router {
    let routes = Router::new()
        .route(
            "/api/{version}/public/echo",
            post(|Json(body): Json<Value>| async move { Reply::created(body) }),
        )
        .route(
            "/api/{version}/public/items",
            get(|Query(page): Query<PageParams>| async move {
                page.validate()?;
                Ok::<_, ApiError>(Reply::ok(json!({ "skip": page.skip, "limit": page.limit })))
            }),
        )
        .route("/api/{version}/public/boom", get(boom));
    edge(
        routes,
        &HttpConfig::from_env(&Env::from_pairs(env.iter().copied())).unwrap(),
    )
}

async fn boom() -> StatusCode {
    panic!("handler bug")
}

fn app() -> Router {
    app_with(&[("MAX_BODY_BYTES", "64")])
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    Answer {
        status,
        headers,
        body,
    }
}

fn post_json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].is_string());
    assert!(answer.body["error"]["details"].is_object());
}

#[tokio::test]
async fn unknown_route_is_404_in_the_envelope() {
    let answer = send(app(), get_req("/api/v1/nowhere")).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(answer.body["error"]["details"]["id"], "/api/v1/nowhere");
}

#[tokio::test]
async fn wrong_method_is_405_in_the_envelope_with_allow() {
    let answer = send(app(), get_req("/api/v1/public/echo")).await;
    assert_error(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert!(answer.headers.contains_key(header::ALLOW));
}

#[tokio::test]
async fn malformed_json_is_400_in_the_envelope() {
    let answer = send(app(), post_json("/api/v1/public/echo", "{\"name\": ")).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

#[tokio::test]
async fn body_without_json_content_type_is_400() {
    let request = Request::post("/api/v1/public/echo")
        .body(Body::from("{}"))
        .unwrap();
    let answer = send(app(), request).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

#[tokio::test]
async fn oversize_body_is_413_in_the_envelope() {
    let big = format!("{{\"text\": \"{}\"}}", "x".repeat(200));
    let answer = send(app(), post_json("/api/v1/public/echo", &big)).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn query_rules_are_422_naming_the_parameter() {
    for (query, field) in [
        ("skip=-1", "skip"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
    ] {
        let answer = send(app(), get_req(&format!("/api/v1/public/items?{query}"))).await;
        assert_error(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        );
        assert_eq!(answer.body["error"]["details"]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn panic_in_a_handler_is_a_500_envelope_not_a_crash() {
    let answer = send(app(), get_req("/api/v1/public/boom")).await;
    assert_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");
    assert_eq!(answer.body["error"]["message"], "Internal server error");
}

#[tokio::test]
async fn v1_body_is_bare_and_v2_body_is_wrapped_with_meta() {
    let v1 = send(app(), post_json("/api/v1/public/echo", r#"{"a":1}"#)).await;
    assert_eq!(v1.status, StatusCode::CREATED);
    assert_eq!(v1.body, json!({"a": 1}));

    let request = Request::post("/api/v2/public/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "client-chosen-id")
        .body(Body::from(r#"{"a":1}"#))
        .unwrap();
    let v2 = send(app(), request).await;
    assert_eq!(v2.status, StatusCode::CREATED);
    assert_eq!(v2.body["data"], json!({"a": 1}));
    assert_eq!(v2.body["meta"]["version"], "v2");
    assert_eq!(v2.body["meta"]["request_id"], "client-chosen-id");
    assert!(
        v2.body["meta"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[tokio::test]
async fn v2_errors_keep_the_error_shape_and_add_meta() {
    let answer = send(app(), get_req("/api/v2/public/items?limit=0")).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    );
    assert_eq!(answer.body["meta"]["version"], "v2");
}

#[tokio::test]
async fn every_response_carries_request_id_version_and_security_headers() {
    let answer = send(app(), get_req("/api/v1/public/items")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let h = &answer.headers;
    assert!(uuid::Uuid::parse_str(h["x-request-id"].to_str().unwrap()).is_ok());
    assert_eq!(h["x-api-version"], "v1");
    assert_eq!(h["x-api-latest-version"], "v2");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(
        h["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(h["content-security-policy"], "default-src 'self'");
    assert!(!h.contains_key("deprecation"));
}

#[tokio::test]
async fn deprecated_version_announces_its_sunset_and_successor() {
    let app = app_with(&[
        ("API_DEPRECATED_VERSIONS", "v1"),
        ("API_SUNSET", "Wed, 31 Dec 2025 23:59:59 GMT"),
    ]);
    let answer = send(app.clone(), get_req("/api/v1/public/items")).await;
    assert_eq!(answer.headers["deprecation"], "true");
    assert_eq!(answer.headers["sunset"], "Wed, 31 Dec 2025 23:59:59 GMT");
    assert_eq!(
        answer.headers["link"],
        "</api/v2/>; rel=\"successor-version\""
    );
    assert!(answer.headers.contains_key("x-deprecation-notice"));

    let v2 = send(app, get_req("/api/v2/public/items")).await;
    assert!(!v2.headers.contains_key("deprecation"));
}
