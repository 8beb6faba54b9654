//! The users function's router against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{ConnectionRecord, Connections, Table, UserRecord, UserRepo};
use aloft_testkit::{TestEnv, oneshot};
use axum::{Router, body::Body};
use http::{Request, StatusCode, header};

struct Fixture {
    app: Router,
    users: UserRepo,
    connections: Connections,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[]);
    let app = fn_users::router(
        fn_users::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    Fixture {
        app,
        users: UserRepo::new(table.clone()),
        connections: Connections::new(table),
    }
}

fn record(id: &str) -> UserRecord {
    aloft_testkit::user_record(id)
}

#[tokio::test]
async fn me_in_v1_is_the_reference_shape() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let answer = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/app/users/me", "ann", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let me = answer.json();
    assert_eq!(me["id"], "ann");
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["subscription_plan"], "free");
    assert!(me.get("is_premium").is_none());
    assert!(me.get("password_hash").is_none());
}

#[tokio::test]
async fn me_in_v2_adds_premium_and_days_since_joined() {
    let f = fixture().await;
    let mut premium = record("pat");
    premium.subscription_plan = "pro".into();
    premium.subscription_status = Some("active".into());
    f.users.create(&premium).await.unwrap();
    let answer = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v2/app/users/me", "pat", None),
    )
    .await;
    let body = answer.json();
    assert_eq!(body["data"]["is_premium"], true);
    assert!(body["data"]["days_since_joined"].as_i64().unwrap() > 300);
    assert_eq!(body["meta"]["version"], "v2");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let body = r#"{"avatar_url": "https://example.com/a.png"}"#;
    let answer = oneshot::send(
        &f.app,
        oneshot::as_user("PATCH", "/api/v1/app/users/me", "ann", Some(body)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let me = answer.json();
    assert_eq!(me["avatar_url"], "https://example.com/a.png");
    assert_eq!(me["full_name"], "Ann");
}

#[tokio::test]
async fn patch_rules_are_422_naming_the_field() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let long_name = format!(r#"{{"full_name": "{}"}}"#, "x".repeat(256));
    for (body, field) in [
        (long_name.as_str(), "full_name"),
        (r#"{"avatar_url": "javascript:alert(1)"}"#, "avatar_url"),
        (r#"{"full_name": 42}"#, "full_name"),
    ] {
        let answer = oneshot::send(
            &f.app,
            oneshot::as_user("PATCH", "/api/v1/app/users/me", "ann", Some(body)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn inactive_user_is_forbidden() {
    let f = fixture().await;
    let mut inactive = record("gone");
    inactive.is_active = false;
    f.users.create(&inactive).await.unwrap();
    let answer = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/app/users/me", "gone", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["error"]["code"], "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn no_token_is_401() {
    let f = fixture().await;
    let answer = oneshot::get(&f.app, "/api/v1/app/users/me").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let f = fixture().await;
    let api = serde_json::to_value(fn_users::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&f.app, &api).await;
}

fn with_api_key(method: &str, path: &str, key: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn api_key_is_shown_once_works_like_a_token_and_dies_when_deleted() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    let created = oneshot::send(
        &f.app,
        oneshot::as_user(
            "POST",
            "/api/v1/app/api-keys",
            "ann",
            Some(r#"{"name": "ci deploys"}"#),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let me = oneshot::send(&f.app, with_api_key("GET", "/api/v1/app/users/me", &secret)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["id"], "ann");

    let list = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/app/api-keys", "ann", None),
    )
    .await;
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("secret").is_none(),
        "the secret is never listed"
    );

    let deleted = oneshot::send(
        &f.app,
        oneshot::as_user("DELETE", &format!("/api/v1/app/api-keys/{id}"), "ann", None),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let rejected =
        oneshot::send(&f.app, with_api_key("GET", "/api/v1/app/users/me", &secret)).await;
    assert_eq!(rejected.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_tenants_api_key_is_not_found() {
    let f = fixture().await;
    f.users.create(&record("ann")).await.unwrap();
    f.users.create(&record("bob")).await.unwrap();
    let created = oneshot::send(
        &f.app,
        oneshot::as_user(
            "POST",
            "/api/v1/app/api-keys",
            "ann",
            Some(r#"{"name": "ann's"}"#),
        ),
    )
    .await
    .json();
    let id = created["id"].as_str().unwrap();

    let by_bob = oneshot::send(
        &f.app,
        oneshot::as_user("DELETE", &format!("/api/v1/app/api-keys/{id}"), "bob", None),
    )
    .await;
    assert_eq!(by_bob.status, StatusCode::NOT_FOUND);
    let bobs_list = oneshot::send(
        &f.app,
        oneshot::as_user("GET", "/api/v1/app/api-keys", "bob", None),
    )
    .await;
    assert_eq!(bobs_list.json()["items"].as_array().unwrap().len(), 0);
    // Ann's key still works.
    let secret = created["secret"].as_str().unwrap();
    let me = oneshot::send(&f.app, with_api_key("GET", "/api/v1/app/users/me", secret)).await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_api_keys_are_401() {
    let f = fixture().await;
    for key in ["not-a-key", "aloft_0123456789abcdef0123456789abcdef_guess"] {
        let answer = oneshot::send(&f.app, with_api_key("GET", "/api/v1/app/users/me", key)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{key}");
    }
}

#[tokio::test]
async fn every_authenticated_request_is_metered_per_user_and_day() {
    let env = TestEnv::new().await;
    let vars = env.env(&[]);
    let app = fn_users::router(
        fn_users::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    UserRepo::new(table.clone())
        .create(&record("ann"))
        .await
        .unwrap();
    for _ in 0..2 {
        let answer = oneshot::send(
            &app,
            oneshot::as_user("GET", "/api/v1/app/users/me", "ann", None),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["x-ratelimit-limit"], "60");
    }
    let today = time::OffsetDateTime::now_utc().date();
    let month = aloft_store::UsageMeter::new(table)
        .month("ann", aloft_store::usage::API_REQUESTS, today)
        .await
        .unwrap();
    assert_eq!(month.day(today.day()), 2);
    assert_eq!(month.by["users"], 2, "counted under its route group");
}

/// A connection of `user` as the realtime function records it at `$connect`.
fn connection(id: &str, user: &str, expires_at: u64) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.to_owned(),
        user_id: user.to_owned(),
        tenant_id: format!("tenant-{user}"),
        connected_at: aloft_core::timestamp::now(),
        channels: Vec::new(),
        expires_at,
        credential_expires_at: None,
        impersonation_session: None,
    }
}

#[tokio::test]
async fn ws_status_shows_the_callers_open_connections_with_their_channels() {
    let f = fixture().await;
    let now = aloft_core::timestamp::unix_now();
    let (first, second) = (
        connection("Ann1=", "ann", now + 3600),
        connection("Ann2=", "ann", now + 3600),
    );
    for open in [&first, &second, &connection("Bob1=", "bob", now + 3600)] {
        f.connections.open(open).await.unwrap();
    }
    for channel in ["user:ann", "project:p1"] {
        assert!(f.connections.join(&first, channel).await.unwrap());
    }
    // Past API Gateway's two hours, its item not yet removed by the table's TTL.
    let expired = connection("AnnOld=", "ann", now - 1);
    f.connections.open(&expired).await.unwrap();
    // Its token has run out: the next push closes it.
    let ended = ConnectionRecord {
        credential_expires_at: Some(now - 1),
        ..connection("AnnEnded=", "ann", now + 3600)
    };
    f.connections.open(&ended).await.unwrap();

    let status = |user| {
        oneshot::send(
            &f.app,
            oneshot::as_user("GET", "/api/v1/app/ws/status", user, None),
        )
    };
    let answer = status("ann").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let ann = answer.json();
    assert_eq!(ann["count"], 2, "{ann}");
    let connections = ann["connections"].as_array().unwrap();
    let shown = |id: &str| {
        connections
            .iter()
            .find(|c| c["connection_id"] == id)
            .cloned()
    };
    let first_shown = shown("Ann1=").unwrap();
    assert_eq!(
        first_shown["channels"],
        serde_json::json!(["project:p1", "user:ann"])
    );
    assert_eq!(first_shown["connected_at"], first.connected_at.as_str());
    assert_eq!(shown("Ann2=").unwrap()["channels"], serde_json::json!([]));
    assert!(
        shown("AnnOld=").is_none() && shown("AnnEnded=").is_none(),
        "expired connections and ended credentials are left out"
    );
    assert!(shown("Bob1=").is_none(), "another user's are not shown");

    let bob = status("bob").await.json();
    assert_eq!(bob["count"], 1);
    assert_eq!(bob["connections"][0]["connection_id"], "Bob1=");
    assert_eq!(status("cat").await.json()["count"], 0);
}
