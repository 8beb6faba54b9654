//! `ColdStarts`: only the first request a process serves reports it. A file of its own, so
//! its process serves no other test's requests first.

use aloft_config::Env;
use aloft_http::{HttpConfig, edge, metrics};
use axum::{Router, body::Body, routing::get};
use http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn only_the_first_request_of_a_process_counts_a_cold_start() {
    let config = HttpConfig::from_env(&Env::from_pairs([])).unwrap();
    let app = edge(
        Router::new().route("/api/v1/public/ping", get(|| async { "pong" })),
        &config,
    );
    let captured = metrics::Capture::start();

    for _ in 0..2 {
        let request = Request::get("/api/v1/public/ping")
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap();
    }

    let documents = captured.documents();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0]["ColdStarts"], 1.0);
    assert_eq!(
        documents[0]["_aws"]["CloudWatchMetrics"][1]["Metrics"][2]["Name"],
        "ColdStarts"
    );
    assert!(documents[1].get("ColdStarts").is_none(), "{}", documents[1]);
}
