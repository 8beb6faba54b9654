//! The files function's router against the local emulator, with real HTTP uploads to
//! the presigned URLs.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{
    Table, UsageMeter,
    usage::{FILE_UPLOADS, STORAGE_BYTES},
};
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::StatusCode;
use serde_json::Value;

async fn app() -> Router {
    app_on(&TestEnv::new().await).await
}

async fn app_on(env: &TestEnv) -> Router {
    app_with(env, &[]).await
}

async fn app_with(env: &TestEnv, extra: &[(&'static str, &str)]) -> Router {
    let mut pairs = vec![
        ("FILES_MAX_BYTES", "1000"),
        ("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000"),
    ];
    pairs.extend_from_slice(extra);
    let vars = env.env(&pairs);
    fn_files::router(
        fn_files::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    )
}

async fn upload_url(app: &Router, user: &str, name: &str, size: usize) -> Value {
    let body = format!(r#"{{"filename": "{name}", "content_type": "text/plain", "size": {size}}}"#);
    let answer = oneshot::send(
        app,
        oneshot::as_user("POST", "/api/v1/app/files/upload-url", user, Some(&body)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

async fn put(url: &str, bytes: &'static [u8]) -> reqwest::StatusCode {
    reqwest::Client::new()
        .put(url)
        .header("content-type", "text/plain")
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status()
}

async fn confirm(app: &Router, user: &str, file_id: &str) -> oneshot::Answer {
    let body = format!(r#"{{"file_id": "{file_id}"}}"#);
    oneshot::send(
        app,
        oneshot::as_user("POST", "/api/v1/app/files/confirm", user, Some(&body)),
    )
    .await
}

#[tokio::test]
async fn upload_url_is_signed_over_type_and_length_with_a_safe_key() {
    let app = app().await;
    let upload = upload_url(&app, "ann", "../../etc/my notes.txt", 11).await;
    let url = upload["upload_url"].as_str().unwrap();
    let signed = url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap();
    let signed = signed.replace("%3B", ";");
    assert!(signed.split(';').any(|h| h == "content-type"), "{signed}");
    assert!(signed.split(';').any(|h| h == "content-length"), "{signed}");
    assert!(upload["key"].as_str().unwrap().ends_with("/my_notes.txt"));
    assert!(upload["key"].as_str().unwrap().starts_with("uploads/ann/"));
    assert_eq!(upload["expires_in"], 3600);
}

#[tokio::test]
async fn upload_confirm_list_download_delete() {
    let app = app().await;
    let upload = upload_url(&app, "ann", "hello.txt", 11).await;
    let id = upload["file_id"].as_str().unwrap();
    assert_eq!(
        put(upload["upload_url"].as_str().unwrap(), b"hello world").await,
        200
    );

    let confirmed = confirm(&app, "ann", id).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(confirmed.json()["status"], "uploaded");
    assert_eq!(
        confirm(&app, "ann", id).await.status,
        StatusCode::OK,
        "confirm is idempotent"
    );

    let list = oneshot::send(
        &app,
        oneshot::as_user("GET", "/api/v1/app/files", "ann", None),
    )
    .await
    .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["filename"], "hello.txt");

    let download = oneshot::send(
        &app,
        oneshot::as_user(
            "GET",
            &format!("/api/v1/app/files/{id}/download-url"),
            "ann",
            None,
        ),
    )
    .await
    .json();
    let url = download["download_url"].as_str().unwrap().to_owned();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"hello world");

    let deleted = oneshot::send(
        &app,
        oneshot::as_user("DELETE", &format!("/api/v1/app/files/{id}"), "ann", None),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        404,
        "the object is gone"
    );
    let again = oneshot::send(
        &app,
        oneshot::as_user(
            "GET",
            &format!("/api/v1/app/files/{id}/download-url"),
            "ann",
            None,
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn racing_confirmations_count_one_upload_and_a_delete_takes_its_bytes_back() {
    let env = TestEnv::new().await;
    let app = app_on(&env).await;
    let meter = UsageMeter::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    let month = |metric| {
        let meter = meter.clone();
        async move {
            let today = time::OffsetDateTime::now_utc().date();
            meter.month("uma", metric, today).await.unwrap().total
        }
    };
    let upload = upload_url(&app, "uma", "race.txt", 11).await;
    let id = upload["file_id"].as_str().unwrap();
    put(upload["upload_url"].as_str().unwrap(), b"hello world").await;

    let (first, second) = tokio::join!(confirm(&app, "uma", id), confirm(&app, "uma", id));
    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(month(FILE_UPLOADS).await, 1);
    assert_eq!(month(STORAGE_BYTES).await, 11);

    let delete = || {
        let request = oneshot::as_user("DELETE", &format!("/api/v1/app/files/{id}"), "uma", None);
        oneshot::send(&app, request)
    };
    let (first, second) = tokio::join!(delete(), delete());
    assert!(first.status == StatusCode::NO_CONTENT || second.status == StatusCode::NO_CONTENT);
    assert_eq!(month(STORAGE_BYTES).await, 0, "the bytes come back once");

    // Each change is published once, however many requests raced to make it.
    let jobs = aloft_store::JobRepo::new(Table::new(env.clients.dynamodb.clone(), env.table()));
    let mut events: Vec<(String, Value)> = jobs
        .list(aloft_store::JobStatus::Queued)
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.kind == "webhook.fanout")
        .map(|job| {
            let fanout: Value = serde_json::from_str(&job.payload).unwrap();
            (fanout["event"].as_str().unwrap().to_owned(), fanout)
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["file.deleted", "file.uploaded"]);
    let uploaded = &events[1].1;
    assert_eq!(uploaded["tenant"], "tenant-uma");
    assert_eq!(
        uploaded["channels"],
        serde_json::json!(["tenant:tenant-uma", "user:uma"])
    );
    assert_eq!(uploaded["data"]["id"], id);
}

#[tokio::test]
async fn confirm_without_the_object_or_with_another_size_is_409() {
    let app = app().await;
    let missing = upload_url(&app, "ann", "never.txt", 5).await;
    let answer = confirm(&app, "ann", missing["file_id"].as_str().unwrap()).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json()["error"]["code"], "CONFLICT");

    // The emulator does not check signatures, so a wrong-sized body gets through it;
    // confirm still catches it. (Real S3 refuses it at the PUT.)
    let short = upload_url(&app, "ann", "short.txt", 5).await;
    put(short["upload_url"].as_str().unwrap(), b"abc").await;
    let answer = confirm(&app, "ann", short["file_id"].as_str().unwrap()).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_tenants_file_is_404_on_every_route() {
    let app = app().await;
    let upload = upload_url(&app, "ann", "private.txt", 11).await;
    let id = upload["file_id"].as_str().unwrap();
    put(upload["upload_url"].as_str().unwrap(), b"hello world").await;
    assert_eq!(
        confirm(&app, "mallory", id).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(confirm(&app, "ann", id).await.status, StatusCode::OK);
    for (method, path) in [
        ("GET", format!("/api/v1/app/files/{id}")),
        ("GET", format!("/api/v1/app/files/{id}/download-url")),
        ("DELETE", format!("/api/v1/app/files/{id}")),
    ] {
        let answer = oneshot::send(&app, oneshot::as_user(method, &path, "mallory", None)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let list = oneshot::send(
        &app,
        oneshot::as_user("GET", "/api/v1/app/files", "mallory", None),
    )
    .await;
    assert_eq!(list.json()["total"], 0);
}

#[tokio::test]
async fn a_file_is_read_as_the_list_shows_it_pending_then_uploaded() {
    let app = app().await;
    let upload = upload_url(&app, "ann", "notes.txt", 11).await;
    let id = upload["file_id"].as_str().unwrap();
    let get = || {
        oneshot::send(
            &app,
            oneshot::as_user("GET", &format!("/api/v1/app/files/{id}"), "ann", None),
        )
    };

    let pending = get().await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.text);
    assert_eq!(pending.json()["status"], "pending");

    put(upload["upload_url"].as_str().unwrap(), b"hello world").await;
    assert_eq!(confirm(&app, "ann", id).await.status, StatusCode::OK);
    let file = get().await.json();
    let list = oneshot::send(
        &app,
        oneshot::as_user("GET", "/api/v1/app/files", "ann", None),
    )
    .await
    .json();
    assert_eq!(file, list["items"][0], "the same view as the list");
    assert_eq!(file["id"], id);
    assert_eq!(file["filename"], "notes.txt");
    assert_eq!(file["size"], 11);
    assert_eq!(file["status"], "uploaded");
}

#[tokio::test]
async fn an_unknown_file_is_404_in_the_envelope() {
    let app = app().await;
    let path = format!("/api/v1/app/files/{}", uuid::Uuid::now_v7());
    let answer = oneshot::send(&app, oneshot::as_user("GET", &path, "ann", None)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");
}

/// Method, path, body, expected status, expected `details.field`.
type BadInput<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    StatusCode,
    Option<&'a str>,
);

#[tokio::test]
async fn bad_input_gets_the_envelope_with_the_right_status() {
    let app = app().await;
    let cases: [BadInput; 9] = [
        (
            "POST",
            "/api/v1/app/files/upload-url",
            Some(
                r#"{"filename": "a.exe", "content_type": "application/x-msdownload", "size": 10}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("content_type"),
        ),
        (
            "POST",
            "/api/v1/app/files/upload-url",
            Some(r#"{"filename": "a.txt", "content_type": "text/plain", "size": 1001}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("size"),
        ),
        (
            "POST",
            "/api/v1/app/files/upload-url",
            Some(r#"{"filename": "a.txt", "content_type": "text/plain", "size": 0}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("size"),
        ),
        (
            "POST",
            "/api/v1/app/files/upload-url",
            Some(r#"{"filename": "a.txt", "content_type": "text/plain", "size": -1}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("size"),
        ),
        (
            "POST",
            "/api/v1/app/files/upload-url",
            Some("{\"filename\": "),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "POST",
            "/api/v1/app/files/confirm",
            Some(r#"{"file_id": "nope"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("file_id"),
        ),
        (
            "GET",
            "/api/v1/app/files/nope",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("file_id"),
        ),
        (
            "GET",
            "/api/v1/app/files/nope/download-url",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("file_id"),
        ),
        (
            "GET",
            "/api/v1/app/files?limit=101",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
    ];
    for (method, path, body, status, field) in cases {
        let answer = oneshot::send(&app, oneshot::as_user(method, path, "ann", body)).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        if let Some(field) = field {
            assert_eq!(
                answer.json()["error"]["details"]["field"],
                field,
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = app().await;
    let api = serde_json::to_value(fn_files::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &api).await;
}

/// A free tenant may store 25 bytes here: the second 11-byte file fits, the third is
/// refused at `upload-url` by its declared size, and a confirmation past the quota (two
/// URLs asked before either upload was confirmed) is refused with the same 429.
#[tokio::test]
async fn the_storage_quota_refuses_at_upload_url_and_at_confirm() {
    let env = TestEnv::new().await;
    let app = app_with(&env, &[("FILES_QUOTA_BYTES_FREE", "25")]).await;
    let mut pending = Vec::new();
    for name in ["a.txt", "b.txt", "c.txt"] {
        let upload = upload_url(&app, "quinn", name, 11).await;
        put(upload["upload_url"].as_str().unwrap(), b"hello world").await;
        pending.push(upload["file_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        confirm(&app, "quinn", &pending[0]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        confirm(&app, "quinn", &pending[1]).await.status,
        StatusCode::OK
    );
    let third = confirm(&app, "quinn", &pending[2]).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    let error = &third.json()["error"];
    assert_eq!(error["code"], "QUOTA_EXCEEDED");
    assert_eq!(error["details"]["metric"], "storage_bytes");
    assert_eq!(
        (
            error["details"]["limit"].as_u64(),
            error["details"]["used"].as_u64()
        ),
        (Some(25), Some(22))
    );
    assert!(
        error["details"].get("resets_at").is_none(),
        "storage does not reset by itself"
    );

    let body = r#"{"filename": "d.txt", "content_type": "text/plain", "size": 11}"#;
    let asked = oneshot::send(
        &app,
        oneshot::as_user("POST", "/api/v1/app/files/upload-url", "quinn", Some(body)),
    )
    .await;
    assert_eq!(
        asked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        asked.text
    );
    // Deleting makes room again.
    let delete = oneshot::as_user(
        "DELETE",
        &format!("/api/v1/app/files/{}", pending[0]),
        "quinn",
        None,
    );
    assert_eq!(
        oneshot::send(&app, delete).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        confirm(&app, "quinn", &pending[2]).await.status,
        StatusCode::OK
    );
}
