//! Usage metering end to end: a user's requests, upload, download, AI call and contact
//! form (whose emails the jobs worker sends) through the running stack, then the usage
//! routes show exactly that, and nothing of another user's.

use aloft_e2e::{Stack, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct User<'a> {
    stack: &'a Stack,
    bearer: String,
}

impl User<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let headers = [
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let answer = self.stack.send_body(method, path, &headers, &body).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.text);
        answer.json()
    }

    async fn get(&self, path: &str) -> Value {
        self.call(Method::GET, path, None).await
    }
}

#[tokio::test]
async fn every_metric_counts_what_the_user_did_and_only_theirs() {
    let stack = Stack::new();
    let ann = User {
        stack: &stack,
        bearer: stack.new_user("usage-ann").await.0,
    };
    let bob = User {
        stack: &stack,
        bearer: stack.new_user("usage-bob").await.0,
    };

    for _ in 0..3 {
        ann.get("/api/v1/app/users/me").await;
    }
    ann.get("/api/v2/app/projects").await;

    let bytes: &[u8] = b"twenty-four bytes here!!";
    let upload = ann
        .call(
            Method::POST,
            "/api/v1/app/files/upload-url",
            Some(json!({"filename": "a.txt", "content_type": "text/plain", "size": bytes.len()})),
        )
        .await;
    let put = reqwest::Client::new()
        .put(upload["upload_url"].as_str().unwrap())
        .header("content-type", "text/plain")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let file_id = upload["file_id"].as_str().unwrap();
    let confirm = Some(json!({ "file_id": file_id }));
    ann.call(Method::POST, "/api/v1/app/files/confirm", confirm)
        .await;
    ann.get(&format!("/api/v1/app/files/{file_id}/download-url"))
        .await;

    let chat = ann
        .call(
            Method::POST,
            "/api/v1/app/ai/chat",
            Some(json!({"prompt": "Hi"})),
        )
        .await;
    let ai_tokens = chat["usage"]["total_tokens"].as_i64().unwrap();
    let model = chat["model"].as_str().unwrap().to_owned();

    // Signed in, the contact form's two emails (to the admin, and the confirmation) are
    // the user's background jobs.
    let form = json!({"name": "Ann", "email": "ann@example.com", "message": "Metered, please."});
    ann.call(Method::POST, "/api/v1/public/contact", Some(form))
        .await;

    bob.get("/api/v1/app/users/me").await;

    let current = eventually("the contact jobs and emails counted", async || {
        let current = ann.get("/api/v1/app/usage/current-period").await;
        (current["background_jobs"] == 2 && current["email_sent"] == 2).then_some(current)
    })
    .await;
    let size = i64::try_from(bytes.len()).unwrap();
    for (metric, expected) in [
        ("file_uploads", 1),
        ("file_downloads", 1),
        ("storage_bytes", size),
        ("ai_requests", 1),
        ("ai_tokens", ai_tokens),
        ("websocket_messages", 0),
    ] {
        assert_eq!(current[metric], expected, "{metric}: {current}");
    }

    // Every request but the usage reads, by route group.
    let requests = ann
        .get("/api/v1/app/usage/breakdown?metric=api_requests")
        .await;
    let groups = &requests["breakdown"];
    assert_eq!(groups["users"], 3, "{requests}");
    assert_eq!(groups["projects"], 1, "{requests}");
    assert_eq!(groups["files"], 3, "{requests}");
    assert_eq!(groups["ai"], 1, "{requests}");
    assert_eq!(groups["public"], 1, "{requests}");
    let usage_reads = groups["usage"].as_i64().unwrap();
    assert_eq!(requests["total"], 9 + usage_reads);

    let tokens = ann
        .get("/api/v1/app/usage/breakdown?metric=ai_tokens")
        .await;
    assert_eq!(tokens["breakdown"][&model], ai_tokens);

    let daily = ann
        .get("/api/v1/app/usage/daily?metric=file_uploads&days=2")
        .await;
    assert_eq!(daily["data"][1]["value"], 1, "today: {daily}");
    assert_eq!(daily["total"], 1);

    let theirs = bob.get("/api/v1/app/usage/current-period").await;
    for metric in ["file_uploads", "ai_tokens", "background_jobs", "email_sent"] {
        assert_eq!(theirs[metric], 0, "{metric}: {theirs}");
    }
    let bobs = bob
        .get("/api/v1/app/usage/breakdown?metric=api_requests")
        .await;
    assert_eq!(bobs["breakdown"]["users"], 1, "{bobs}");
}

#[tokio::test]
async fn an_admin_reads_a_users_reports_as_they_do_and_the_metric_defaults_to_requests() {
    let stack = Stack::new();
    let ann = User {
        stack: &stack,
        bearer: stack.new_user("usage-twin").await.0,
    };
    let admin = User {
        stack: &stack,
        bearer: stack.admin().await,
    };
    let ann_id = stack.user_id(&ann.bearer).await;
    let bytes: &[u8] = b"counted for the admin to see";
    stack.upload_file(&ann.bearer, "twin.txt", bytes).await;

    // Without `metric`, the one-metric reports read `api_requests`.
    for report in ["trends", "daily", "breakdown"] {
        let own = ann.get(&format!("/api/v1/app/usage/{report}")).await;
        assert_eq!(own["metric"], "api_requests", "{report}: {own}");
    }
    let requests = ann.get("/api/v1/app/usage/breakdown").await;
    assert_eq!(
        requests["breakdown"]["files"], 2,
        "upload-url, confirm: {requests}"
    );

    // The admin's twins answer what the user sees (file uploads: no request of either
    // read moves them).
    for (report, query) in [
        ("trends", "metric=file_uploads&days=7"),
        ("daily", "metric=file_uploads&days=7"),
        ("breakdown", "metric=storage_bytes"),
    ] {
        let own = ann
            .get(&format!("/api/v1/app/usage/{report}?{query}"))
            .await;
        let seen = admin
            .get(&format!("/api/v1/admin/usage/{report}/{ann_id}?{query}"))
            .await;
        assert_eq!(seen, own, "{report}");
    }
    let daily = admin
        .get(&format!(
            "/api/v1/admin/usage/daily/{ann_id}?metric=file_uploads&days=1"
        ))
        .await;
    assert_eq!(daily["total"], 1, "{daily}");
    assert_eq!(
        admin.get("/api/v1/admin/usage/metrics").await,
        ann.get("/api/v1/app/usage/metrics").await
    );

    let headers = [("authorization", ann.bearer.as_str())];
    let path = format!("/api/v1/admin/usage/daily/{ann_id}");
    let refused = stack.send(Method::GET, &path, &headers).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let headers = [("authorization", admin.bearer.as_str())];
    let unknown = stack
        .send(
            Method::GET,
            "/api/v1/admin/usage/trends/no-such-user",
            &headers,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
}
