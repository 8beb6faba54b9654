//! The AI router against the local emulator and the testkit's fake provider (both wire
//! formats): answers, streams, fallbacks, field rules, quotas, limits and metering.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{Table, UsageMeter};
use aloft_testkit::{
    TestEnv,
    fake_ai::{FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, FakeAi, answer_text, tokens},
    oneshot::{self, Answer, as_user},
};
use axum::Router;
use http::StatusCode;
use serde_json::{Value, json};

struct Fixture {
    env: TestEnv,
    fake: FakeAi,
    app: Router,
}

/// A fresh table, a fake provider on both wires, and the AI router configured for them
/// (short timeouts, so slow-provider tests stay quick).
async fn fixture(extra: &[(&'static str, &str)]) -> Fixture {
    let fake = FakeAi::start().await;
    let (openai, anthropic) = (fake.openai_base_url(), fake.anthropic_base_url());
    let mut pairs: Vec<(&'static str, &str)> = vec![
        ("OPENAI_BASE_URL", &openai),
        ("OPENAI_API_KEY", FAKE_OPENAI_KEY),
        ("ANTHROPIC_BASE_URL", &anthropic),
        ("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY),
        ("AI_FIRST_BYTE_TIMEOUT_SECONDS", "0.5"),
        ("AI_DEADLINE_SECONDS", "5"),
        (
            "AI_STREAM_URL",
            "http://127.0.0.1:9000/lambda-url/ai-stream",
        ),
    ];
    pairs.extend_from_slice(extra);
    without_providers(&pairs, fake).await
}

/// Like [`fixture`], with exactly `pairs` (no provider unless they name one).
async fn without_providers(pairs: &[(&'static str, &str)], fake: FakeAi) -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(pairs);
    let app = fn_ai::router(
        fn_ai::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    Fixture { env, fake, app }
}

impl Fixture {
    async fn post(&self, user: &str, path: &str, body: Value) -> Answer {
        let request = as_user(
            "POST",
            &format!("/api/v1/app/ai/{path}"),
            user,
            Some(&body.to_string()),
        );
        oneshot::send(&self.app, request).await
    }

    /// This month's count of `metric`, or of its `dimension` (the model).
    async fn counter(&self, user: &str, metric: &str, dimension: Option<&str>) -> i64 {
        let table = Table::new(self.env.clients.dynamodb.clone(), self.env.table());
        let metric = aloft_store::Metric::parse(metric).unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let month = UsageMeter::new(table)
            .month(user, metric, today)
            .await
            .unwrap();
        dimension.map_or(month.total, |d| month.by.get(d).copied().unwrap_or(0))
    }
}

/// Our SSE body as a client reads it: (event name, data) per event, parsed here from
/// the spec, apart from the code under test.
fn events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut name = "message".to_owned();
            let mut data: Vec<&str> = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = value.to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

fn streamed_text(events: &[(String, String)]) -> String {
    events
        .iter()
        .filter(|(name, data)| name == "message" && data != "[DONE]")
        .map(|(_, data)| data.as_str())
        .collect()
}

fn usage_event(events: &[(String, String)]) -> Value {
    let (_, data) = events.iter().find(|(name, _)| name == "usage").unwrap();
    serde_json::from_str(data).unwrap()
}

#[tokio::test]
async fn status_lists_the_configured_providers_and_the_stream_url() {
    let f = fixture(&[]).await;
    let answer = oneshot::send(
        &f.app,
        as_user("GET", "/api/v1/app/ai/status", "u-status", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["available"], true);
    assert_eq!(body["providers"], json!(["openai", "anthropic"]));
    assert_eq!(body["default_provider"], "openai");
    assert_eq!(body["default_model"], "gpt-4o");
    assert_eq!(
        body["stream_url"],
        "http://127.0.0.1:9000/lambda-url/ai-stream"
    );
}

#[tokio::test]
async fn without_keys_status_is_unavailable_and_routes_name_the_variables() {
    let f = without_providers(&[], FakeAi::start().await).await;
    let status = oneshot::send(
        &f.app,
        as_user("GET", "/api/v1/app/ai/status", "u-nokey", None),
    )
    .await;
    assert_eq!(status.json()["available"], false);
    assert_eq!(status.json()["providers"], json!([]));
    let answer = f.post("u-nokey", "chat", json!({"prompt": "Hi"})).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "SERVICE_UNAVAILABLE");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY")
    );
    assert_eq!(
        error["details"]["configure"],
        json!(["OPENAI_API_KEY", "OPENAI_BASE_URL"])
    );
}

#[tokio::test]
async fn a_completion_names_its_provider_and_model_and_is_metered_by_model() {
    let f = fixture(&[]).await;
    let messages = json!([
        {"role": "system", "content": "You are brief."},
        {"role": "user", "content": "Hello, how are you?"}
    ]);
    let answer = f
        .post(
            "u-complete",
            "completions",
            json!({"messages": messages, "max_tokens": 50}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["content"], answer_text("gpt-4o"));
    assert_eq!(
        (body["provider"].as_str(), body["model"].as_str()),
        (Some("openai"), Some("gpt-4o"))
    );
    assert_eq!(body["finish_reason"], "stop");
    let prompt_tokens = tokens("You are brief.Hello, how are you?".len());
    let completion_tokens = tokens(answer_text("gpt-4o").chars().count());
    assert_eq!(body["usage"]["prompt_tokens"], prompt_tokens);
    assert_eq!(
        body["usage"]["total_tokens"],
        prompt_tokens + completion_tokens
    );
    assert!(body["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["usage"]["estimated"], false);

    let sent: Value = serde_json::from_str(&f.fake.received()[0].body).unwrap();
    assert_eq!(sent["messages"], messages);
    assert_eq!(sent["max_tokens"], 50);
    let total = i64::try_from(prompt_tokens + completion_tokens).unwrap();
    assert_eq!(f.counter("u-complete", "ai_tokens", None).await, total);
    assert_eq!(
        f.counter("u-complete", "ai_tokens", Some("gpt-4o")).await,
        total
    );
    assert_eq!(
        f.counter("u-complete", "ai_requests", Some("gpt-4o")).await,
        1
    );
}

#[tokio::test]
async fn chat_with_a_claude_model_speaks_anthropic_with_a_top_level_system() {
    let f = fixture(&[]).await;
    let answer = f
        .post("u-claude", "chat", json!({"prompt": "Explain SSE.", "system": "Be a teacher.", "model": "claude-haiku-4-5", "temperature": 1.5}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["provider"], "anthropic");
    assert_eq!(answer.json()["content"], answer_text("claude-haiku-4-5"));
    let request = &f.fake.received()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], FAKE_ANTHROPIC_KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sent["system"], "Be a teacher.");
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Explain SSE."}])
    );
    assert_eq!(sent["temperature"], 1.0, "Anthropic's range is 0-1");
}

#[tokio::test]
async fn routed_chat_takes_the_model_of_its_complexity() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-routed",
            "chat/routed",
            json!({"prompt": "Prove it.", "complexity": "complex"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["model"], "claude-sonnet-4-5");
    assert_eq!(answer.json()["complexity"], "complex");
    let simple = f
        .post(
            "u-routed",
            "chat/routed",
            json!({"prompt": "Classify.", "complexity": "simple"}),
        )
        .await;
    assert_eq!(simple.json()["model"], "gpt-4o-mini");
    // No Perplexity key: `search` falls back to its next model.
    let search = f
        .post(
            "u-routed",
            "chat/routed",
            json!({"prompt": "News?", "complexity": "search"}),
        )
        .await;
    assert_eq!(search.json()["model"], "gpt-4o");
}

#[tokio::test]
async fn broken_field_rules_are_422_naming_the_field() {
    let f = fixture(&[
        ("AI_MAX_PROMPT_CHARS", "100"),
        ("RATE_LIMIT_AI_PER_MINUTE", "100"),
    ])
    .await;
    let cases = [
        ("completions", json!({"messages": []}), "messages"),
        (
            "completions",
            json!({"messages": [{"role": "bot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            "completions",
            json!({"messages": [{"role": "system", "content": "x"}]}),
            "messages",
        ),
        (
            "chat",
            json!({"prompt": "x", "temperature": 2.5}),
            "temperature",
        ),
        (
            "chat",
            json!({"prompt": "x", "max_tokens": 0}),
            "max_tokens",
        ),
        (
            "chat",
            json!({"prompt": "x", "max_tokens": 16_385}),
            "max_tokens",
        ),
        ("chat", json!({"prompt": "x".repeat(101)}), "prompt"),
        ("chat", json!({"prompt": "  "}), "prompt"),
        (
            "chat",
            json!({"prompt": "x", "model": "gpt-5-ultra"}),
            "model",
        ),
        (
            "chat/routed",
            json!({"prompt": "x", "complexity": "extreme"}),
            "complexity",
        ),
    ];
    for (path, body, field) in cases {
        let answer = f.post("u-rules", path, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{body}");
    }
    let claude = f
        .post(
            "u-rules",
            "chat",
            json!({"prompt": "x", "model": "claude-sonnet-4-5", "max_tokens": 64_000}),
        )
        .await;
    assert_eq!(
        claude.status,
        StatusCode::OK,
        "each model has its own limit: {}",
        claude.text
    );
    assert_eq!(
        f.fake.received().len(),
        1,
        "rejected requests never reach a provider"
    );
}

#[tokio::test]
async fn a_throttled_or_failing_provider_falls_back_to_the_next_model() {
    let f = fixture(&[]).await;
    for directive in [
        "fake:gpt-4o:status=429 fake:gpt-4o:retry-after=7",
        "fake:gpt-4o:status=500",
        "fake:gpt-4o:status=529",
    ] {
        let answer = f
            .post(
                "u-fallback",
                "chat",
                json!({"prompt": format!("Hi {directive}")}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{directive}: {}",
            answer.text
        );
        assert_eq!(answer.json()["model"], "claude-sonnet-4-5", "{directive}");
        assert_eq!(answer.json()["provider"], "anthropic");
    }
    assert_eq!(
        f.counter("u-fallback", "ai_requests", Some("claude-sonnet-4-5"))
            .await,
        3
    );
    assert_eq!(
        f.counter("u-fallback", "ai_requests", Some("gpt-4o")).await,
        0
    );
}

#[tokio::test]
async fn when_every_model_fails_the_answer_is_503_with_the_attempts() {
    let f = fixture(&[]).await;
    let answer = f
        .post("u-down", "chat", json!({"prompt": "Hi fake:*:status=503"}))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    let attempts = answer.json()["error"]["details"]["attempts"].clone();
    let models: Vec<&str> = attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["gpt-4o", "claude-sonnet-4-5"]);
    assert_eq!(attempts[0]["error"], "503 Service Unavailable");
    assert!(
        !answer.text.contains("fake 503"),
        "the provider's own words stay in the logs: {}",
        answer.text
    );
    assert_eq!(
        f.counter("u-down", "ai_requests", None).await,
        0,
        "nothing served, nothing charged"
    );
}

#[tokio::test]
async fn a_request_the_provider_refuses_is_400_with_its_message_and_no_fallback() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-refused",
            "chat",
            json!({"prompt": "Hi fake:gpt-4o:status=400"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fake 400 for gpt-4o")
    );
    assert_eq!(f.fake.received().len(), 1);
}

#[tokio::test]
async fn a_rejected_key_falls_back_and_is_never_echoed() {
    let wrong_key = "sk-wrong-secret-key-42";
    let f = fixture(&[("OPENAI_API_KEY", wrong_key)]).await;
    let answer = f.post("u-key", "chat", json!({"prompt": "Hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["provider"], "anthropic");
    let alone = without_providers(
        &[
            ("OPENAI_BASE_URL", &f.fake.openai_base_url()),
            ("OPENAI_API_KEY", wrong_key),
        ],
        f.fake.clone(),
    )
    .await;
    let answer = alone.post("u-key", "chat", json!({"prompt": "Hi"})).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!answer.text.contains(wrong_key), "{}", answer.text);
    assert_eq!(
        answer.json()["error"]["details"]["attempts"][0]["error"],
        "401 Unauthorized"
    );
    assert!(
        !answer.text.contains("Incorrect API key"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_slow_first_byte_falls_back_within_the_timeout() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-slow",
            "chat",
            json!({"prompt": "Hi fake:gpt-4o:delay=3000", "stream": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["x-ai-model"], "claude-sonnet-4-5");
    assert_eq!(
        streamed_text(&events(&answer.text)),
        answer_text("claude-sonnet-4-5")
    );
}

#[tokio::test]
async fn a_slow_buffered_provider_leaves_its_fallback_time_to_answer() {
    // Deadline 5 s over two models: the first gets 2.5 s, the fallback the rest.
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-slow-json",
            "chat",
            json!({"prompt": "Hi fake:gpt-4o:delay=4000"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn a_model_the_server_lacks_falls_back_like_an_outage() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-404",
            "chat",
            json!({"prompt": "Hi fake:gpt-4o:status=404"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn openai_streams_keep_newlines_and_end_with_reported_usage_and_done() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-stream",
            "chat",
            json!({"prompt": "Tell me", "stream": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "text/event-stream");
    let events = events(&answer.text);
    assert!(events.len() > 4, "one event per delta: {events:?}");
    assert!(
        events.iter().any(|(_, data)| data.contains('\n')),
        "a delta carries a newline"
    );
    assert_eq!(streamed_text(&events), answer_text("gpt-4o"));
    let usage = usage_event(&events);
    let expected = tokens("Tell me".len()) + tokens(answer_text("gpt-4o").chars().count());
    assert_eq!(usage["total_tokens"], expected);
    assert_eq!(usage["estimated"], false);
    assert_eq!(usage["model"], "gpt-4o");
    assert_eq!(
        events.last().unwrap(),
        &("message".to_owned(), "[DONE]".to_owned())
    );
    let sent: Value = serde_json::from_str(&f.fake.received()[0].body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(
        f.counter("u-stream", "ai_tokens", None).await,
        i64::try_from(expected).unwrap()
    );
}

#[tokio::test]
async fn anthropic_streams_take_usage_from_message_start_and_message_delta() {
    let f = fixture(&[]).await;
    let answer = f
        .post(
            "u-astream",
            "chat",
            json!({"prompt": "Tell me", "model": "claude-sonnet-4-5", "stream": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    assert_eq!(streamed_text(&events), answer_text("claude-sonnet-4-5"));
    let usage = usage_event(&events);
    assert_eq!(usage["prompt_tokens"], tokens("Tell me".len()));
    assert_eq!(
        usage["completion_tokens"],
        tokens(answer_text("claude-sonnet-4-5").chars().count())
    );
    assert_eq!(usage["estimated"], false);
    assert_eq!(usage["finish_reason"], "stop");
    assert_eq!(events.last().unwrap().1, "[DONE]");
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_event_and_estimated_usage() {
    let f = fixture(&[]).await;
    for model in ["gpt-4o", "claude-sonnet-4-5"] {
        let user = format!("u-cut-{model}");
        let body = json!({"prompt": "Tell me fake:*:cut=2", "model": model, "stream": true});
        let answer = f.post(&user, "chat", body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let events = events(&answer.text);
        let text = streamed_text(&events);
        assert_eq!(
            text,
            answer_text(model).chars().take(16).collect::<String>(),
            "{model}"
        );
        let usage = usage_event(&events);
        assert_eq!(usage["estimated"], true, "{model}");
        assert_eq!(usage["completion_tokens"], tokens(16), "{model}");
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error", "{model}");
        let error: Value = serde_json::from_str(data).unwrap();
        assert_eq!(error["error"]["code"], "EXTERNAL_SERVICE_ERROR");
        let charged = f.counter(&user, "ai_tokens", None).await;
        assert_eq!(
            charged,
            usage["total_tokens"].as_i64().unwrap(),
            "{model}: the cut stream is metered"
        );
    }
}

#[tokio::test]
async fn a_stream_past_its_deadline_still_ends_with_usage_and_an_error_event() {
    let f = fixture(&[("AI_DEADLINE_SECONDS", "1")]).await;
    let body = json!({"prompt": "Tell me fake:*:gap=300", "stream": true});
    let answer = f.post("u-deadline", "chat", body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    assert!(
        !streamed_text(&events).is_empty(),
        "the first deltas arrived"
    );
    assert_eq!(usage_event(&events)["estimated"], true);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert!(data.contains("deadline"), "{data}");
}

/// An organization with `require` set, one member (`org-keys-ann`), and its own
/// OpenAI key stored (encrypted with the emulator's KMS) when `key` is given; a request
/// of that member acting in it.
async fn organization_with_keys(
    f: &Fixture,
    id: &str,
    require: bool,
    key: Option<&str>,
) -> http::Request<axum::body::Body> {
    let table = Table::new(f.env.clients.dynamodb.clone(), f.env.table());
    let organizations = aloft_store::OrganizationRepo::new(table.clone());
    let now = aloft_core::timestamp::now();
    let organization = aloft_store::OrganizationRecord::new(
        id.into(),
        "Keyed".into(),
        "org-keys-ann".into(),
        &now,
    );
    let owner = aloft_store::MembershipRecord {
        tenant_id: id.into(),
        user_id: "org-keys-ann".into(),
        role: aloft_store::MemberRole::Owner,
        joined_at: now.clone(),
    };
    let limits = aloft_store::MembershipLimits {
        members_per_organization: 10,
        organizations_per_user: 10,
    };
    organizations
        .create(&organization, &owner, limits)
        .await
        .unwrap();
    let tenant = aloft_store::TenantId::new(id);
    let change = aloft_store::OrganizationChange {
        require_own_credentials: Some(require),
        ..Default::default()
    };
    organizations.update(&tenant, &change, &now).await.unwrap();
    if let Some(key) = key {
        let vars = f.env.env(&[]);
        aloft_store::TenantCredentials::from_env(&vars, &f.env.clients, &table)
            .unwrap()
            .put(&tenant, "openai", key, &now)
            .await
            .unwrap();
    }
    let token = aloft_testkit::token_as_member("org-keys-ann", id, aloft_store::MemberRole::Owner);
    http::Request::builder()
        .method("POST")
        .uri("/api/v1/app/ai/chat")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json!({"prompt": "Hi"}).to_string()))
        .unwrap()
}

/// An organization's own key replaces the deployment's: here the deployment's OpenAI key
/// is one the provider refuses, and only the organization's members get answers.
#[tokio::test]
async fn an_organization_calls_the_provider_with_its_own_key() {
    let openai_fake = FakeAi::start().await;
    let openai = openai_fake.openai_base_url();
    let f = without_providers(
        &[
            ("OPENAI_BASE_URL", &openai),
            ("OPENAI_API_KEY", "sk-deployment-refused-0000"),
        ],
        openai_fake,
    )
    .await;
    let personal = f
        .post("org-keys-bob", "chat", json!({"prompt": "Hi"}))
        .await;
    assert_eq!(
        personal.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        personal.text
    );
    let request = organization_with_keys(&f, "org-own-key", false, Some(FAKE_OPENAI_KEY)).await;
    let answer = oneshot::send(&f.app, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = f.fake.received();
    let last = sent.last().unwrap();
    assert_eq!(
        last.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {FAKE_OPENAI_KEY}").as_str())
    );
    assert!(
        f.counter("org-own-key", "ai_tokens", None).await > 0,
        "metered as the organization's"
    );
}

/// An organization that requires its own keys and has none gets 424, and the
/// deployment's (working) key is never used for it.
#[tokio::test]
async fn an_organization_requiring_its_own_keys_without_one_gets_424() {
    let f = fixture(&[]).await;
    let request = organization_with_keys(&f, "org-no-key", true, None).await;
    let answer = oneshot::send(&f.app, request).await;
    assert_eq!(
        answer.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        answer.text
    );
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "MISSING_TENANT_CREDENTIALS");
    // gpt-4o, then its fallback on the other provider.
    assert_eq!(
        error["details"]["providers"],
        json!(["openai", "anthropic"])
    );
    assert!(f.fake.received().is_empty(), "no provider was called");
}

/// Members of an organization share its allowance: one member's use counts against the
/// other's next call, and neither touches their personal allowance.
#[tokio::test]
async fn an_organizations_members_share_one_monthly_quota() {
    // A call holds 13 ("Hi" and 12 max_tokens) and uses 13: one fits in 20, two do not.
    let f = fixture(&[("AI_MONTHLY_TOKENS_FREE", "20")]).await;
    let as_member = |user: &str| {
        let token =
            aloft_testkit::token_as_member(user, "org-pool", aloft_store::MemberRole::Member);
        http::Request::builder()
            .method("POST")
            .uri("/api/v1/app/ai/chat")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(hi_in_12().to_string()))
            .unwrap()
    };
    let first = oneshot::send(&f.app, as_member("pool-ann")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let second = oneshot::send(&f.app, as_member("pool-bob")).await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text
    );
    assert_eq!(second.json()["error"]["code"], "QUOTA_EXCEEDED");
    let own = f.post("pool-bob", "chat", hi_in_12()).await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "their own allowance: {}",
        own.text
    );
    assert!(f.counter("org-pool", "ai_tokens", None).await > 0);
    assert_eq!(f.counter("pool-ann", "ai_tokens", None).await, 0);
}

/// A chat that holds 13 tokens (1 for the prompt, 12 for the answer) and uses as many:
/// the fake's answer from gpt-4o is 12 tokens.
fn hi_in_12() -> Value {
    json!({"prompt": "Hi", "max_tokens": 12})
}

#[tokio::test]
async fn over_the_monthly_quota_the_answer_is_429_quota_exceeded() {
    assert_eq!(
        tokens(2) + tokens(answer_text("gpt-4o").chars().count()),
        13
    );
    // One call fits in 20; after it, 13 used and 13 more to hold do not.
    let f = fixture(&[("AI_MONTHLY_TOKENS_FREE", "20")]).await;
    let first = f.post("u-quota", "chat", hi_in_12()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let used = first.json()["usage"]["total_tokens"].as_u64().unwrap();
    let second = f.post("u-quota", "chat", hi_in_12()).await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text
    );
    let error = &second.json()["error"];
    assert_eq!(error["code"], "QUOTA_EXCEEDED");
    assert_eq!(error["details"]["metric"], "ai_tokens");
    assert_eq!(error["details"]["limit"], 20);
    assert_eq!(error["details"]["used"], used);
    assert!(
        error["details"]["resets_at"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00Z")
    );
    assert_eq!(
        f.fake.received().len(),
        1,
        "the provider is not called over quota"
    );
}

/// Each call holds its most before a provider is called, so calls in flight together
/// cannot pass the quota: five at once against a quota that holds two, two are answered
/// and the month's usage stays under the quota.
#[tokio::test]
async fn concurrent_calls_at_the_quota_edge_never_pass_it() {
    // Each holds 1 + 20 = 21 tokens: two fit in 42, three do not.
    let f = fixture(&[
        ("AI_MONTHLY_TOKENS_FREE", "42"),
        ("RATE_LIMIT_AI_PER_MINUTE", "100"),
    ])
    .await;
    let body = json!({"prompt": "Hi", "max_tokens": 20}).to_string();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let app = f.app.clone();
            let request = as_user("POST", "/api/v1/app/ai/chat", "u-edge", Some(&body));
            tokio::spawn(async move { oneshot::send(&app, request).await })
        })
        .collect();
    let mut answered = 0;
    for call in calls {
        let answer = call.await.unwrap();
        if answer.status == StatusCode::OK {
            answered += 1;
            continue;
        }
        assert_eq!(
            answer.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            answer.text
        );
        assert_eq!(answer.json()["error"]["code"], "QUOTA_EXCEEDED");
    }
    assert_eq!(answered, 2);
    let used = f.counter("u-edge", "ai_tokens", None).await;
    assert!((1..=42).contains(&used), "{used}");
    assert_eq!(f.counter("u-edge", "ai_requests", None).await, 2);
    assert_eq!(
        f.fake.received().len(),
        2,
        "refused calls never reach a provider"
    );
}

/// A call no provider served gives its hold back: the next call has the room.
#[tokio::test]
async fn a_failed_call_releases_its_hold() {
    // "Hi fake:*:status=503" is 5 tokens, "Hi" 1; both ask for 20.
    let f = fixture(&[("AI_MONTHLY_TOKENS_FREE", "25")]).await;
    let failing = json!({"prompt": "Hi fake:*:status=503", "max_tokens": 20});
    let failed = f.post("u-release", "chat", failing).await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.text
    );
    let next = f
        .post(
            "u-release",
            "chat",
            json!({"prompt": "Hi", "max_tokens": 20}),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    let used = next.json()["usage"]["total_tokens"].as_i64().unwrap();
    assert_eq!(f.counter("u-release", "ai_tokens", None).await, used);
}

/// A stream's hold is settled when it ends: the next call finds what it used, not what
/// it held.
#[tokio::test]
async fn a_finished_stream_settles_its_hold() {
    let body = || json!({"prompt": "Tell me", "max_tokens": 20, "stream": true});
    let held = tokens("Tell me".len()) + 20;
    let used = tokens("Tell me".len()) + tokens(answer_text("gpt-4o").chars().count());
    // Room for one hold beside one stream's use, not beside its hold.
    let quota = (held + used).to_string();
    let f = fixture(&[("AI_MONTHLY_TOKENS_FREE", &quota)]).await;
    let first = f.post("u-settle", "chat", body()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(usage_event(&events(&first.text))["total_tokens"], used);
    let second = f.post("u-settle", "chat", body()).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let third = f.post("u-settle", "chat", body()).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert_eq!(
        f.counter("u-settle", "ai_tokens", None).await,
        i64::try_from(2 * used).unwrap()
    );
}

/// A hold must outlast the longest call, or a call still running could lose it: the AI
/// functions' Lambda Timeout (template.yaml) stays under the hold window.
#[test]
fn a_quota_hold_outlasts_the_ai_functions_timeouts() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    for function in ["AiFunction", "AiStreamFunction"] {
        let start = template.find(&format!("\n  {function}:\n")).unwrap();
        let timeout: u64 = template[start..]
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            timeout < aloft_store::usage::HOLD_WINDOW_SECS,
            "{function}: Timeout {timeout} s"
        );
    }
}

#[tokio::test]
async fn the_per_minute_ai_class_answers_429_past_its_limit() {
    let f = fixture(&[("RATE_LIMIT_AI_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        assert_eq!(
            f.post("u-rate", "chat", json!({"prompt": "Hi"}))
                .await
                .status,
            StatusCode::OK
        );
    }
    let third = f.post("u-rate", "chat", json!({"prompt": "Hi"})).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert_eq!(third.json()["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert!(third.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn v2_wraps_the_answer_and_routes_need_a_caller() {
    let f = fixture(&[]).await;
    let request = as_user(
        "POST",
        "/api/v2/app/ai/chat",
        "u-v2",
        Some(&json!({"prompt": "Hi"}).to_string()),
    );
    let answer = oneshot::send(&f.app, request).await;
    assert_eq!(answer.json()["data"]["model"], "gpt-4o");
    assert_eq!(answer.json()["meta"]["version"], "v2");
    let anonymous = oneshot::get(&f.app, "/api/v1/app/ai/status").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let f = fixture(&[]).await;
    let document = serde_json::to_value(fn_ai::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&f.app, &document).await;
}
