//! The AI routes through the running stack, with the providers pointed at the testkit's
//! fake (`make e2e` starts `fake-ai` and configures the functions through the
//! environment): buffered answers through the API, and a stream on the streaming
//! function's URL that arrives event by event while other routes keep answering.

use std::time::{Duration, Instant};

use aloft_e2e::Stack;
use aloft_testkit::fake_ai::answer_text;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STREAM_PREFIX: &str = "/lambda-url/ai-stream";

fn headers(token: &str) -> [(&str, &str); 2] {
    [
        ("authorization", token),
        ("content-type", "application/json"),
    ]
}

/// The data of the events in `sse` that carry text (not `[DONE]`, not named events).
fn text_of(sse: &str) -> String {
    sse.split("\n\n")
        .filter(|event| !event.starts_with("event:") && !event.is_empty())
        .map(|event| {
            event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|data| data != "[DONE]")
        .collect()
}

#[tokio::test]
async fn the_api_answers_chats_from_the_configured_provider() {
    let stack = Stack::new();
    let (token, _) = stack.new_user("ai-buffered").await;
    let status = stack
        .send(Method::GET, "/api/v1/app/ai/status", &headers(&token))
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let providers = status.json()["providers"].clone();
    assert_eq!(
        providers,
        json!(["openai", "anthropic"]),
        "the stack's AI settings must point at fake-ai (`make e2e` does)"
    );
    assert!(
        status.json()["stream_url"]
            .as_str()
            .unwrap()
            .ends_with(STREAM_PREFIX)
    );

    let body = json!({"prompt": "Hello", "system": "Be brief."}).to_string();
    let chat = stack
        .send_body(Method::POST, "/api/v2/app/ai/chat", &headers(&token), &body)
        .await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.text);
    assert_eq!(chat.json()["data"]["content"], answer_text("gpt-4o"));
    assert_eq!(chat.json()["data"]["provider"], "openai");

    // Through the HTTP API a stream is buffered: the whole SSE body in one answer.
    let body = json!({"prompt": "Hello", "model": "claude-haiku-4-5", "stream": true}).to_string();
    let buffered = stack
        .send_body(Method::POST, "/api/v1/app/ai/chat", &headers(&token), &body)
        .await;
    assert_eq!(buffered.header("content-type"), "text/event-stream");
    assert_eq!(text_of(&buffered.text), answer_text("claude-haiku-4-5"));
    assert!(
        buffered.text.ends_with("data: [DONE]\n\n"),
        "{}",
        buffered.text
    );
}

#[tokio::test]
async fn a_stream_on_the_function_url_arrives_as_produced_while_other_routes_answer() {
    let stack = Stack::new();
    let (token, _) = stack.new_user("ai-stream").await;
    // The fake waits 1.5 s between events: about 15 s from first to last, room for the
    // other requests below even when watch must start a second instance on a busy machine.
    let body = json!({"prompt": "Stream please fake:*:gap=1500", "stream": true}).to_string();
    let path = format!("{STREAM_PREFIX}/api/v1/app/ai/chat");
    let started = Instant::now();
    let mut response = stack
        .open(Method::POST, &path, &headers(&token), body.as_str())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let mut received = String::new();
    let mut first_text_at = None;
    let mut others_answered_at = None;
    let mut last_chunk_at = Duration::ZERO;
    while let Some(chunk) = response.chunk().await.unwrap() {
        last_chunk_at = started.elapsed();
        received.push_str(std::str::from_utf8(&chunk).unwrap());
        if first_text_at.is_none() && !text_of(&received).is_empty() {
            first_text_at = Some(last_chunk_at);
            // While this stream is open, another route is served, and so is another
            // request to the streaming function itself (watch runs several instances).
            let me = stack
                .send(Method::GET, "/api/v1/app/users/me", &headers(&token))
                .await;
            assert_eq!(me.status, StatusCode::OK, "{}", me.text);
            let status_path = format!("{STREAM_PREFIX}/api/v1/app/ai/status");
            let status = stack
                .send(Method::GET, &status_path, &headers(&token))
                .await;
            assert_eq!(status.status, StatusCode::OK, "{}", status.text);
            others_answered_at = Some(started.elapsed());
        }
    }
    let first_text_at = first_text_at.unwrap();
    let others_answered_at = others_answered_at.unwrap();
    assert!(
        last_chunk_at - first_text_at > Duration::from_secs(2),
        "the first event ({first_text_at:?}) came well before the last ({last_chunk_at:?}): streamed, not buffered"
    );
    // Had the other requests waited for the stream to end, everything after them would
    // have been buffered already and arrived at once.
    assert!(
        last_chunk_at - others_answered_at > Duration::from_secs(1),
        "the stream was still producing ({last_chunk_at:?}) after the other requests answered ({others_answered_at:?})"
    );
    assert_eq!(text_of(&received), answer_text("gpt-4o"));
    let usage = received
        .split("\n\n")
        .find_map(|e| e.strip_prefix("event: usage\ndata: "))
        .unwrap();
    let usage: Value = serde_json::from_str(usage).unwrap();
    assert_eq!(usage["estimated"], false);
    assert!(received.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn the_streaming_function_authenticates_like_the_api() {
    let stack = Stack::new();
    let path = format!("{STREAM_PREFIX}/api/v1/app/ai/chat");
    let body = json!({"prompt": "Hi", "stream": true}).to_string();
    let answer = stack
        .send_body(
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            &body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "AUTHENTICATION_ERROR");
}
