//! The contact function's router against the local emulator: what a submission answers,
//! the jobs it queues, the field rules and the hourly limit.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{JobRecord, JobRepo, JobStatus, Table};
use aloft_testkit::{TestEnv, oneshot};
use axum::{Router, body::Body};
use http::{Request, StatusCode, header};
use serde_json::{Value, json};

struct Fixture {
    env: TestEnv,
    app: Router,
}

async fn fixture(extra: &[(&'static str, &str)]) -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(extra);
    let app = fn_contact::router(
        fn_contact::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    Fixture { env, app }
}

fn valid() -> Value {
    json!({
        "name": "Ann Lee",
        "email": "Ann@Example.com",
        "message": "I would like to know more about your product.",
        "subject": "Pricing",
        "company": "Acme",
        "extra_fields": {"plan": "team"},
        "source": "pricing-page"
    })
}

async fn submit(app: &Router, version: &str, body: &str) -> oneshot::Answer {
    let request = Request::post(format!("/api/{version}/public/contact"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    oneshot::send(app, request).await
}

/// Every message on `queue_url` (`{"job_id", "kind"}` bodies), waiting for `expected`.
async fn drain(env: &TestEnv, queue_url: &str, expected: usize) -> Vec<Value> {
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let received = env
            .clients
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() && bodies.len() >= expected {
            break;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
        }
    }
    bodies
}

/// The queued job records, each with its payload parsed.
async fn queued_jobs(env: &TestEnv, expected: usize) -> Vec<(JobRecord, Value)> {
    let repo = JobRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    let messages = drain(env, &env.queue_url("JobsQueue"), expected).await;
    let mut jobs = Vec::new();
    for message in messages {
        let id = message["job_id"].as_str().unwrap();
        let job = repo.get(id).await.unwrap().unwrap();
        assert_eq!(
            message["kind"],
            job.kind.as_str(),
            "message names its job's kind"
        );
        assert_eq!(job.queue, "jobs");
        assert_eq!(job.status, JobStatus::Queued);
        let payload = serde_json::from_str(&job.payload).unwrap();
        jobs.push((job, payload));
    }
    jobs
}

fn is_reference(id: &str) -> bool {
    id.len() == 12
        && id.starts_with("CNT-")
        && id[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[tokio::test]
async fn valid_submission_in_v1_is_accepted_with_a_reference() {
    let f = fixture(&[]).await;
    let answer = submit(&f.app, "v1", &valid().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], true);
    assert_eq!(
        body["message"],
        "Thank you for your message. We'll get back to you soon!"
    );
    let reference = body["reference_id"].as_str().unwrap();
    assert!(is_reference(reference), "{reference}");
}

#[tokio::test]
async fn valid_submission_in_v2_is_wrapped_in_data() {
    let f = fixture(&[]).await;
    let answer = submit(&f.app, "v2", &valid().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["data"]["success"], true);
    assert!(is_reference(body["data"]["reference_id"].as_str().unwrap()));
    assert!(body.get("success").is_none(), "v2 does not answer bare");
}

#[tokio::test]
async fn submission_queues_admin_and_confirmation_emails_the_crm_call_and_the_fanout() {
    let f = fixture(&[
        ("ADMIN_EMAIL", "admin@example.com"),
        ("CONTACT_WEBHOOK_URL", "https://crm.example.test/hook"),
    ])
    .await;
    let answer = submit(&f.app, "v1", &valid().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let reference = answer.json()["reference_id"].as_str().unwrap().to_owned();

    let jobs = queued_jobs(&f.env, 4).await;
    let kinds = |kind: &str| -> Vec<&Value> {
        jobs.iter()
            .filter(|(job, _)| job.kind == kind)
            .map(|(_, payload)| payload)
            .collect()
    };
    assert_eq!(jobs.len(), 4, "{jobs:?}");

    let emails = kinds("email.send");
    assert_eq!(emails.len(), 2, "{emails:?}");
    let to_admin = emails
        .iter()
        .find(|e| e["to"] == "admin@example.com")
        .unwrap();
    assert_eq!(to_admin["subject"], format!("[{reference}] Pricing"));
    assert_eq!(to_admin["reply_to"], "ann@example.com");
    assert!(to_admin["text"].as_str().unwrap().contains("Company: Acme"));
    let to_sender = emails
        .iter()
        .find(|e| e["to"] == "ann@example.com")
        .unwrap();
    assert!(to_sender["subject"].as_str().unwrap().contains(&reference));
    assert!(
        to_sender["text"]
            .as_str()
            .unwrap()
            .contains("Hello Ann Lee")
    );

    let crm = kinds("contact.crm");
    assert_eq!(crm.len(), 1, "{crm:?}");
    let crm = crm[0];
    assert_eq!(crm["url"], "https://crm.example.test/hook");
    assert_eq!(crm["reference_id"], reference.as_str());
    assert_eq!(crm["body"]["event"], "contact.submitted");
    assert!(crm["body"]["timestamp"].is_string());
    let data = &crm["body"]["data"];
    assert_eq!(data["reference_id"], reference.as_str());
    assert_eq!(data["name"], "Ann Lee");
    assert_eq!(data["email"], "ann@example.com");
    assert_eq!(data["subject"], "Pricing");
    assert_eq!(data["company"], "Acme");
    assert_eq!(data["source"], "pricing-page");
    assert_eq!(data["extra_fields"]["plan"], "team");
    assert_eq!(
        data["message"],
        "I would like to know more about your product."
    );

    let fanouts = kinds("webhook.fanout");
    assert_eq!(fanouts.len(), 1, "{fanouts:?}");
    assert_eq!(fanouts[0]["event"], "contact.submitted");
    assert_eq!(fanouts[0]["data"]["reference_id"], reference.as_str());
}

#[tokio::test]
async fn without_admin_email_crm_or_confirmation_only_the_fanout_is_queued() {
    let f = fixture(&[("CONTACT_SEND_CONFIRMATION", "false")]).await;
    let answer = submit(&f.app, "v1", &valid().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let jobs = queued_jobs(&f.env, 1).await;
    let kinds: Vec<&str> = jobs.iter().map(|(job, _)| job.kind.as_str()).collect();
    assert_eq!(kinds, ["webhook.fanout"]);
}

#[tokio::test]
async fn each_broken_field_is_422_naming_the_field() {
    // Every request counts against the hourly limit, including rejected ones.
    let f = fixture(&[("RATE_LIMIT_CONTACT_PER_HOUR", "1000")]).await;
    let too_many_fields: serde_json::Map<String, Value> =
        (0..31).map(|i| (format!("f{i}"), json!(i))).collect();
    let cases: Vec<(&str, Value)> = vec![
        ("name", json!("A")),
        ("name", json!("x".repeat(101))),
        ("email", json!("not-an-email")),
        ("email", json!("ann@localhost")),
        ("message", json!("too short")),
        ("message", json!("x".repeat(5001))),
        ("subject", json!("x".repeat(201))),
        ("phone", json!("1".repeat(51))),
        ("company", json!("x".repeat(201))),
        ("source", json!("x".repeat(101))),
        ("extra_fields", Value::Object(too_many_fields)),
        ("extra_fields", json!({"notes": "x".repeat(5000)})),
    ];
    for (field, value) in cases {
        let mut body = valid();
        body[field] = value;
        let answer = submit(&f.app, "v1", &body.to_string()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            answer.text
        );
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "VALIDATION_ERROR", "{field}");
        assert_eq!(error["details"]["field"], field, "{}", answer.text);
    }
}

#[tokio::test]
async fn limits_are_inclusive_and_counted_in_characters() {
    let f = fixture(&[("RATE_LIMIT_CONTACT_PER_HOUR", "1000")]).await;
    let mut body = valid();
    body["name"] = json!("Jo");
    body["message"] = json!("é".repeat(5000));
    body["subject"] = json!("x".repeat(200));
    body["phone"] = json!("1".repeat(50));
    let answer = submit(&f.app, "v1", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let f = fixture(&[]).await;
    let answer = submit(&f.app, "v1", r#"{"name": "Ann", "#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn required_subject_and_phone_are_enforced_and_shown_in_the_status() {
    let f = fixture(&[
        ("CONTACT_REQUIRE_SUBJECT", "true"),
        ("CONTACT_REQUIRE_PHONE", "true"),
    ])
    .await;
    let mut body = valid();
    body.as_object_mut().unwrap().remove("subject");
    body["phone"] = json!("+1 555 0100");
    let answer = submit(&f.app, "v1", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["error"]["details"]["field"], "subject");

    let mut body = valid();
    body["phone"] = json!("   ");
    let answer = submit(&f.app, "v1", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["error"]["details"]["field"], "phone");

    let mut body = valid();
    body["phone"] = json!("+1 555 0100");
    let answer = submit(&f.app, "v1", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let config = oneshot::get(&f.app, "/api/v1/public/contact/status")
        .await
        .json()["config"]
        .clone();
    assert_eq!(config["require_subject"], true);
    assert_eq!(config["require_phone"], true);
    assert_eq!(config["sends_confirmation"], true);
}

#[tokio::test]
async fn sixth_submission_within_the_hour_is_429_with_retry_after() {
    let f = fixture(&[]).await;
    for i in 0..5 {
        let answer = submit(&f.app, "v1", &valid().to_string()).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "submission {i}: {}",
            answer.text
        );
    }
    let answer = submit(&f.app, "v1", &valid().to_string()).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let retry_after: u64 = answer.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn status_shows_the_window_counting_down() {
    let f = fixture(&[]).await;
    let status = oneshot::get(&f.app, "/api/v1/public/contact/status").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let status = status.json();
    assert_eq!(status["available"], true);
    let limit = &status["rate_limit"];
    assert_eq!(limit["limit"], 5);
    assert_eq!(limit["remaining"], 5);
    assert_eq!(limit["window"], "5/hour");
    assert_eq!(status["config"]["require_subject"], false);
    assert_eq!(status["config"]["require_phone"], false);

    for _ in 0..2 {
        let answer = submit(&f.app, "v1", &valid().to_string()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let after = oneshot::get(&f.app, "/api/v2/public/contact/status").await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    let limit = &after.json()["data"]["rate_limit"];
    assert_eq!(limit["remaining"], 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = limit["reset"].as_u64().unwrap();
    assert!(
        reset > now && reset <= now + 3600,
        "reset {reset}, now {now}"
    );
}
