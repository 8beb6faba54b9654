//! What a browser meets in the running local stack: the API, the streaming function URL
//! and the presigned file URLs answer a listed origin with credentials and an unlisted
//! one with no `Access-Control-Allow-Origin` (the policy of template.yaml's
//! `CorsAllowOrigins`, or `CORS_ALLOW_ORIGINS`); the docs pages' files are served by the
//! stack itself, byte for byte the ones their integrity hashes name.

use aloft_e2e::{Answer, Stack};
use base64::Engine;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha384};

const UNLISTED: &str = "https://evil.example";

/// The first allowed origin: the web client's, unless the stack runs with another list.
fn listed() -> String {
    std::env::var("CORS_ALLOW_ORIGINS")
        .ok()
        .and_then(|list| list.split(',').next().map(|o| o.trim().to_owned()))
        .filter(|origin| !origin.is_empty())
        .unwrap_or_else(|| "http://localhost:5173".into())
}

fn api_url() -> String {
    std::env::var("ALOFT_API_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

async fn preflight(url: &str, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap_or_else(|e| panic!("OPTIONS {url}: {e}"))
}

fn allow_origin(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
}

/// A presigned PUT URL for a new user's file, as the web client gets one.
async fn upload_url(stack: &Stack) -> String {
    let (bearer, _) = stack.new_user("cors").await;
    let body = r#"{"filename": "a.txt", "content_type": "text/plain", "size": 3}"#;
    let upload = stack
        .call(&bearer, Method::POST, "/api/v1/app/files/upload-url", body)
        .await;
    assert_eq!(upload.status, StatusCode::OK, "{}", upload.text);
    upload.json()["upload_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_listed_origin_is_allowed_with_credentials_and_an_unlisted_one_is_not() {
    let stack = Stack::new();
    let base = api_url();
    let origin = listed();
    let targets = [
        (
            format!("{base}/api/v1/public/auth/refresh"),
            "POST",
            "content-type",
            true,
        ),
        (
            format!("{base}/lambda-url/ai-stream/api/v1/app/ai/chat"),
            "POST",
            "authorization,content-type",
            true,
        ),
        // The bucket's rule: presigned URLs carry their signature, so uploads need no
        // credentials (the emulator sends no allow-credentials header; S3 does).
        (upload_url(&stack).await, "PUT", "content-type", false),
    ];
    for (url, method, headers, credentials) in &targets {
        let allowed = preflight(url, &origin, method, headers).await;
        assert!(allowed.status().is_success(), "{url}: {}", allowed.status());
        assert_eq!(allow_origin(&allowed), Some(origin.as_str()), "{url}");
        if *credentials {
            assert_eq!(
                allowed.headers()["access-control-allow-credentials"],
                "true",
                "{url}"
            );
        }

        let refused = preflight(url, UNLISTED, method, headers).await;
        assert_eq!(
            allow_origin(&refused),
            None,
            "{url}: {:?}",
            refused.headers()
        );
    }
}

#[tokio::test]
async fn answers_name_the_listed_origin_and_watch_cannot_widen_the_stream_url() {
    let stack = Stack::new();
    let origin = listed();
    // A real answer of the API to a credentialed request: the refresh without a cookie.
    let answer = stack
        .send(
            Method::POST,
            "/api/v1/public/auth/refresh",
            &[("origin", origin.as_str())],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.header("access-control-allow-origin"), origin);
    assert_eq!(answer.header("access-control-allow-credentials"), "true");

    // cargo lambda watch reflects any origin on function URLs; the front answers by the
    // function URL's own configuration instead.
    let listed_answer = stream_from(&stack, &origin).await;
    assert_eq!(
        listed_answer.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        listed_answer.text
    );
    assert_eq!(listed_answer.header("access-control-allow-origin"), origin);
    // A function URL without a CORS block (the webhooks receiver) allows no origin.
    let base = api_url();
    let receiver = format!("{base}/lambda-url/webhooks/api/v1/public/webhooks/stripe");
    let receiver = preflight(&receiver, &origin, "POST", "content-type").await;
    assert_eq!(allow_origin(&receiver), None, "{:?}", receiver.headers());
    let unlisted_answer = stream_from(&stack, UNLISTED).await;
    assert!(
        unlisted_answer
            .headers
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        unlisted_answer.headers
    );
}

/// A stream request without a token, from `origin`, to the streaming function URL.
async fn stream_from(stack: &Stack, origin: &str) -> Answer {
    let headers = [("origin", origin), ("content-type", "application/json")];
    let body = r#"{"prompt": "hi", "stream": true}"#;
    let path = "/lambda-url/ai-stream/api/v1/app/ai/chat";
    stack.send_body(Method::POST, path, &headers, body).await
}

#[tokio::test]
async fn the_docs_pages_load_their_pinned_files_from_the_stack() {
    let stack = Stack::new();
    let mut files = 0;
    for page in ["/docs", "/redoc"] {
        let html = stack.get(page).await;
        assert_eq!(html.status, StatusCode::OK, "{page}");
        // Each <script src=… integrity=…> / <link href=… integrity=…>.
        for tag in html
            .text
            .split('<')
            .filter(|tag| tag.contains("integrity="))
        {
            let attribute = |name: &str| {
                let value = tag.split_once(&format!("{name}=\""))?.1;
                value.split_once('"').map(|(value, _)| value.to_owned())
            };
            let url = attribute("src")
                .or_else(|| attribute("href"))
                .unwrap_or_default();
            assert!(url.starts_with("/docs/assets/"), "{page}: {url}");
            let integrity = attribute("integrity").unwrap_or_default();
            let file = stack.open(Method::GET, &url, &[], Vec::new()).await;
            assert_eq!(file.status(), StatusCode::OK, "{url}");
            let digest = Sha384::digest(file.bytes().await.unwrap_or_default());
            let expected = format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            );
            assert_eq!(integrity, expected, "{url}: not the CDN's file");
            files += 1;
        }
    }
    assert_eq!(files, 3);
}
