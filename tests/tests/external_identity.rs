//! Sign-in with an external identity provider, as deployed: `infra/stack.sh full` points
//! every function at the fake provider this test serves on :5302 (`AUTH_JWKS_URL`,
//! `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_ROLE_CLAIM=app_metadata.role`), and the
//! provider's RS256 tokens must open the HTTP functions, the WebSocket gateway and the
//! streaming function URL. One test: the provider lives as long as it runs.

use std::time::{Duration, Instant};

use aloft_e2e::{Answer, Stack, unique};
use aloft_testkit::idp::{FakeIdp, STACK_ADDRESS};
use futures_util::StreamExt;
use jsonwebtoken::Algorithm;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::{connect_async, tungstenite::Message};

async fn call(stack: &Stack, token: &str, method: Method, path: &str, body: &str) -> Answer {
    stack
        .call(&format!("Bearer {token}"), method, path, body)
        .await
}

#[tokio::test]
async fn provider_tokens_open_every_function_and_bad_ones_none() {
    let idp = FakeIdp::bind(STACK_ADDRESS)
        .await
        .unwrap_or_else(|e| panic!("the fake provider's port {STACK_ADDRESS}: {e}"));
    let stack = Stack::new();
    let sub = unique("idp-user");
    let token = idp.sign(Algorithm::RS256, "rsa-1", &idp.claims(&sub));

    // HTTP functions: the user appears on first sight, with role `user`.
    let me = call(&stack, &token, Method::GET, "/api/v1/app/users/me", "").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["email"], format!("{sub}@idp.example.test"));
    assert_eq!(me.json()["role"], "user");
    let project = json!({"name": "From the provider"}).to_string();
    let created = call(
        &stack,
        &token,
        Method::POST,
        "/api/v1/app/projects",
        &project,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let listed = call(&stack, &token, Method::GET, "/api/v1/app/projects", "").await;
    assert_eq!(listed.json()["total"], 1, "{}", listed.text);

    // The WebSocket gateway's $connect.
    let url = format!("ws://127.0.0.1:9001/api/v1/app/ws?token={token}");
    let (mut socket, _) = connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connect with a provider token: {e}"));
    let hello = loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no greeting within 60 s"));
        if let Some(Ok(Message::Text(text))) = frame {
            break serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}"));
        }
    };
    assert_eq!(hello["type"], "connected", "{hello}");

    // The streaming function URL.
    let stream = json!({"prompt": "Hello", "stream": true}).to_string();
    let streamed = call(
        &stack,
        &token,
        Method::POST,
        "/lambda-url/ai-stream/api/v1/app/ai/chat",
        &stream,
    )
    .await;
    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert!(
        streamed.text.ends_with("data: [DONE]\n\n"),
        "{}",
        streamed.text
    );

    // Refused: another audience, a key the provider never published, a forged signature.
    let mut other_audience = idp.claims(&sub);
    other_audience["aud"] = "someone-else".into();
    let refused = [
        idp.sign(Algorithm::RS256, "rsa-1", &other_audience),
        idp.sign(Algorithm::RS256, "rsa-unknown", &idp.claims(&sub)),
        idp.forge("rsa-1", &idp.claims(&sub)),
    ];
    for bad in refused {
        let answer = call(&stack, &bad, Method::GET, "/api/v1/app/users/me", "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "AUTHENTICATION_ERROR");
    }

    // The provider rotates: a token under its new key is accepted once the functions
    // fetch the key set again (at most every 10 s each, for an unknown kid).
    idp.publish("rsa-2", Algorithm::RS256);
    idp.retire("rsa-1");
    let rotated = idp.sign(Algorithm::RS256, "rsa-2", &idp.claims(&sub));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = call(&stack, &rotated, Method::GET, "/api/v1/app/users/me", "").await;
        if answer.status == StatusCode::OK {
            assert_eq!(answer.json()["email"], format!("{sub}@idp.example.test"));
            break;
        }
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // AUTH_ROLE_CLAIM: the provider's `app_metadata.role` says admin, then stops saying it.
    // Signed with the ES256 key, published from the start: a function instance that has
    // not fetched the rotated set yet still knows it.
    let admin_sub = unique("idp-admin");
    let mut admin_claims = idp.claims(&admin_sub);
    admin_claims["app_metadata"] = json!({"role": "admin"});
    let admin = idp.sign(Algorithm::ES256, "ec-1", &admin_claims);
    let jobs = call(&stack, &admin, Method::GET, "/api/v1/admin/jobs", "").await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text);
    let demoted = idp.sign(Algorithm::ES256, "ec-1", &idp.claims(&admin_sub));
    let jobs = call(&stack, &demoted, Method::GET, "/api/v1/admin/jobs", "").await;
    assert_eq!(jobs.status, StatusCode::FORBIDDEN, "{}", jobs.text);
    let me = call(&stack, &demoted, Method::GET, "/api/v1/app/users/me", "").await;
    assert_eq!(
        me.json()["role"],
        "user",
        "the user record follows the claim"
    );
}
