//! The local API front plays API Gateway's part: each caller's own address reaches the
//! functions (`requestContext.http.sourceIp`), a body that is not UTF-8 reaches them
//! base64-encoded, and one slow request does not hold up the other callers of its
//! function.

use aloft_e2e::{Stack, fresh_loopback};
use reqwest::{Method, StatusCode};
use serde_json::json;

const LOGIN: &str = "/api/v1/public/auth/login";
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

#[tokio::test]
async fn two_loopback_addresses_get_separate_auth_rate_limit_windows() {
    aloft_testkit::early_in_a_rate_window().await;
    let (first, second) = (fresh_loopback(), fresh_loopback());
    assert_ne!(first, second);
    let (first, second) = (Stack::from_address(first), Stack::from_address(second));
    let wrong =
        json!({"email": "nobody-front@example.com", "password": "not the password"}).to_string();

    let opening = first.send_body(Method::POST, LOGIN, &JSON, &wrong).await;
    assert_eq!(opening.status, StatusCode::UNAUTHORIZED, "{}", opening.text);
    let limit: u32 = opening.header("x-ratelimit-limit").parse().unwrap();
    let mut answer = opening;
    for _ in 0..limit {
        answer = first.send_body(Method::POST, LOGIN, &JSON, &wrong).await;
    }
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );

    // Another address on the same machine still has its whole window.
    let other = second.send_body(Method::POST, LOGIN, &JSON, &wrong).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{}", other.text);
    assert_eq!(
        other.header("x-ratelimit-remaining"),
        (limit - 1).to_string()
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8_gets_a_400_in_the_envelope() {
    let stack = Stack::from_address(fresh_loopback());
    let bytes = vec![0xff, 0xfe, b'{', b'}'];
    for path in [
        "/api/v1/public/contact",
        "/api/v2/public/auth/register",
        LOGIN,
    ] {
        let answer = stack
            .send_bytes(Method::POST, path, &JSON, bytes.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert!(
            answer.json()["error"]["code"].is_string(),
            "{path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn a_slow_request_does_not_hold_up_other_callers_of_its_function() {
    let stack = Stack::new();
    let (token, _) = stack.new_user("front-slow").await;
    // The fake provider waits 5 s before answering this prompt.
    let slow_body = json!({"prompt": "fake:*:delay=5000 hello"}).to_string();
    let slow = {
        let (stack, token) = (stack.clone(), token.clone());
        tokio::spawn(async move {
            stack
                .call(&token, Method::POST, "/api/v1/app/ai/chat", &slow_body)
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let status = stack
        .call(&token, Method::GET, "/api/v1/app/ai/status", "")
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    assert!(
        !slow.is_finished(),
        "the quick call should be answered while the slow one is still running"
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.text);
}
