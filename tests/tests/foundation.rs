//! The foundation through the running stack: envelopes, headers, health, docs.

use aloft_e2e::Stack;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn v2_health_is_wrapped_and_carries_every_standard_header() {
    let answer = Stack::new().get("/api/v2/public/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["data"]["status"], "healthy");
    assert_eq!(body["meta"]["version"], "v2");
    assert_eq!(body["meta"]["request_id"], answer.header("x-request-id"));
    assert_eq!(answer.header("x-api-version"), "v2");
    assert_eq!(answer.header("x-api-latest-version"), "v2");
    assert_eq!(answer.header("x-content-type-options"), "nosniff");
    assert_eq!(answer.header("x-frame-options"), "DENY");
    assert!(
        answer
            .header("strict-transport-security")
            .starts_with("max-age=")
    );
    assert_eq!(
        answer.header("content-security-policy"),
        "default-src 'self'"
    );
}

#[tokio::test]
async fn v1_health_is_bare() {
    let answer = Stack::new().get("/api/v1/public/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["status"], "healthy");
    assert_eq!(answer.header("x-api-version"), "v1");
}

#[tokio::test]
async fn client_request_id_is_echoed() {
    let answer = Stack::new()
        .send(
            Method::GET,
            "/api/v1/public/health",
            &[("x-request-id", "e2e-trace-42")],
        )
        .await;
    assert_eq!(answer.header("x-request-id"), "e2e-trace-42");
}

#[tokio::test]
async fn readiness_checks_the_emulated_aws_services() {
    let answer = Stack::new().get("/api/v1/public/health/ready").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    for component in ["database", "storage", "queue"] {
        assert_eq!(body["components"][component]["status"], "healthy", "{body}");
    }
}

#[tokio::test]
async fn unknown_route_is_a_404_envelope() {
    let answer = Stack::new().get("/api/v1/no/such/thing").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");
    assert!(answer.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn wrong_method_is_a_405_envelope() {
    let answer = Stack::new()
        .send(Method::DELETE, "/api/v2/public/health", &[])
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let body = answer.json();
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(body["meta"]["version"], "v2");
}

#[tokio::test]
async fn docs_serve_the_merged_openapi_document_and_both_uis() {
    let stack = Stack::new();
    let spec = stack.get("/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    let spec = spec.json();
    assert!(
        spec["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );
    assert!(spec["paths"]["/api/v1/public/health"].is_object());
    for page in ["/docs", "/redoc"] {
        let answer = stack.get(page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        assert!(answer.header("content-type").starts_with("text/html"));
    }
}

#[tokio::test]
async fn health_and_readiness_answer_outside_the_versions_too() {
    let stack = Stack::new();
    let live = stack.get("/health").await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    assert_eq!(
        live.json()["data"]["status"],
        "healthy",
        "the latest version's body"
    );
    assert_eq!(live.header("x-api-version"), "v2");

    let ready = stack.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let body = ready.json();
    for component in ["database", "storage", "queue"] {
        let report = &body["data"]["components"][component];
        assert_eq!(report["status"], "healthy", "{body}");
    }

    let v1 = stack
        .send(Method::GET, "/health", &[("accept-version", "v1")])
        .await;
    assert_eq!(v1.status, StatusCode::OK);
    assert_eq!(v1.json()["status"], "healthy");

    let spec = stack.get("/openapi.json").await.json();
    for (path, id) in [
        ("/health", "check_health_unversioned"),
        ("/health/ready", "check_readiness_unversioned"),
    ] {
        assert_eq!(spec["paths"][path]["get"]["operationId"], id, "{path}");
    }
}
