//! The health function's router against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_config::Env;
use aloft_http::HttpConfig;
use aloft_testkit::{PrivateEmulator, TestEnv, oneshot};
use axum::{Router, body::Body};
use fn_health::AppState;
use http::{Request, StatusCode};
use serde_json::Value;

async fn app_for(env: &Env) -> Router {
    let state = AppState::from_env(env).await.unwrap();
    fn_health::router(state, &HttpConfig::from_env(env).unwrap())
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let answer = oneshot::get(app, path).await;
    (answer.status, answer.json())
}

#[tokio::test]
async fn liveness_is_bare_in_v1_and_wrapped_in_v2() {
    let env = TestEnv::new().await;
    let app = app_for(&env.env(&[])).await;

    let (status, v1) = get(&app, "/api/v1/public/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v1["status"], "healthy");
    assert!(v1["timestamp"].as_str().unwrap().ends_with('Z'));

    let (status, v2) = get(&app, "/api/v2/public/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v2["data"]["status"], "healthy");
    assert_eq!(v2["meta"]["version"], "v2");
}

#[tokio::test]
async fn both_probes_answer_outside_the_versions_as_the_latest_or_the_asked_version() {
    let env = TestEnv::new().await;
    let app = app_for(&env.env(&[])).await;

    let (status, live) = get(&app, "/health").await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["data"]["status"], "healthy");
    assert_eq!(live["meta"]["version"], "v2");

    let (status, ready) = get(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["data"]["status"], "healthy");
    for component in ["database", "storage", "queue"] {
        let report = &ready["data"]["components"][component];
        assert_eq!(report["status"], "healthy", "{ready}");
    }

    let request = Request::get("/health")
        .header("accept-version", "v1")
        .body(Body::empty())
        .unwrap();
    let bare = oneshot::send(&app, request).await;
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(bare.json()["status"], "healthy");
}

#[tokio::test]
async fn readiness_reports_every_component_healthy() {
    let env = TestEnv::new().await;
    let app = app_for(&env.env(&[])).await;
    let (status, body) = get(&app, "/api/v1/public/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "healthy");
    for component in ["database", "storage", "queue"] {
        assert_eq!(body["components"][component]["status"], "healthy", "{body}");
    }
}

#[tokio::test]
async fn readiness_names_the_one_component_that_is_missing() {
    let env = TestEnv::new().await;
    env.clients
        .s3()
        .delete_bucket()
        .bucket(env.bucket())
        .send()
        .await
        .unwrap();
    let app = app_for(&env.env(&[])).await;
    let (status, body) = get(&app, "/api/v1/public/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    let components = &body["error"]["details"]["components"];
    assert_eq!(components["storage"]["status"], "unhealthy");
    assert_eq!(components["database"]["status"], "healthy");
    assert_eq!(components["queue"]["status"], "healthy");
}

#[tokio::test]
async fn readiness_is_503_when_the_emulator_is_stopped() {
    let mut emulator = PrivateEmulator::start().await;
    let env = TestEnv::on(&emulator.url).await;
    let app = app_for(&env.env(&[("READINESS_TIMEOUT_MS", "500")])).await;
    let (status, _) = get(&app, "/api/v1/public/health/ready").await;
    assert_eq!(status, StatusCode::OK);

    emulator.stop().await;
    let (status, body) = get(&app, "/api/v2/public/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["details"]["status"], "unhealthy");
    for component in ["database", "storage", "queue"] {
        let report = &body["error"]["details"]["components"][component];
        assert_eq!(report["status"], "unhealthy", "{body}");
        assert!(report["latency_ms"].as_u64().unwrap() <= 1_000, "{body}");
    }
    assert_eq!(body["meta"]["version"], "v2");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_answer_in_the_envelope() {
    let env = TestEnv::new().await;
    let app = app_for(&env.env(&[])).await;
    let (status, body) = get(&app, "/api/v1/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND");

    let request = Request::post("/api/v1/public/health")
        .body(Body::empty())
        .unwrap();
    let answer = oneshot::send(&app, request).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn missing_setting_fails_cold_start_naming_it() {
    let env = Env::from_pairs([("AWS_REGION", "us-east-1")]);
    let err = AppState::from_env(&env).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing required environment variable TABLE_NAME"
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let env = TestEnv::new().await;
    let app = app_for(&env.env(&[])).await;
    let api = serde_json::to_value(fn_health::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &api).await;
}

#[test]
fn openapi_documents_both_versions_with_error_shapes() {
    let api = serde_json::to_value(fn_health::openapi()).unwrap();
    let paths = api["paths"].as_object().unwrap();
    for path in [
        "/api/v1/public/health",
        "/api/v2/public/health",
        "/api/v1/public/health/ready",
        "/api/v2/public/health/ready",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    // The unversioned paths: the latest version's operations under their own ids.
    for (path, id) in [
        ("/health", "check_health_unversioned"),
        ("/health/ready", "check_readiness_unversioned"),
    ] {
        let operation = &paths[path]["get"];
        assert_eq!(operation["operationId"], id, "{path}");
        let versioned = &paths[&format!("/api/v2/public{path}")]["get"];
        assert_eq!(operation["responses"], versioned["responses"], "{path}");
    }
    let ready_503 = &api["paths"]["/api/v1/public/health/ready"]["get"]["responses"]["503"];
    assert_eq!(
        ready_503["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
}
