//! The projects function's router against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::{StatusCode, header};
use serde_json::Value;

async fn app() -> Router {
    let env = TestEnv::new().await;
    // The tests send many requests as one user; the limiter is tested elsewhere.
    let vars = env.env(&[("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000")]);
    fn_projects::router(
        fn_projects::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    )
}

async fn create(app: &Router, user: &str, name: &str) -> Value {
    let body = format!(r#"{{"name": "{name}", "description": "about {name}"}}"#);
    let answer = oneshot::send(
        app,
        oneshot::as_user("POST", "/api/v1/app/projects", user, Some(&body)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.json()
}

#[tokio::test]
async fn create_then_get_returns_the_project_with_its_etag() {
    let app = app().await;
    let created = create(&app, "ann", "Apollo").await;
    assert_eq!(created["owner_id"], "ann");
    let id = created["id"].as_str().unwrap();
    let answer = oneshot::send(
        &app,
        oneshot::as_user("GET", &format!("/api/v1/app/projects/{id}"), "ann", None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::ETAG], "\"1\"");
    assert_eq!(answer.json()["name"], "Apollo");
}

#[tokio::test]
async fn pages_search_and_sort_count_every_match() {
    let app = app().await;
    for i in 0..45 {
        create(&app, "ann", &format!("Project {i:02}")).await;
    }
    create(&app, "ann", "Zeta Special").await;
    let list = |query: &str| {
        let app = app.clone();
        let path = format!("/api/v1/app/projects?{query}");
        async move {
            oneshot::send(&app, oneshot::as_user("GET", &path, "ann", None))
                .await
                .json()
        }
    };
    let page = list("skip=40&limit=10&sort=name&order=asc").await;
    assert_eq!(page["total"], 46);
    assert_eq!(page["skip"], 40);
    assert_eq!(page["limit"], 10);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Project 40",
            "Project 41",
            "Project 42",
            "Project 43",
            "Project 44",
            "Zeta Special"
        ]
    );

    let found = list("search=zeta%20SPEC").await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["name"], "Zeta Special");

    let newest = list("limit=1").await;
    assert_eq!(
        newest["items"][0]["name"], "Zeta Special",
        "default: created_at desc"
    );
    assert_eq!(list("").await["limit"], 20);
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_one_wins_one_gets_412() {
    let app = app().await;
    let id = create(&app, "ann", "Shared").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/app/projects/{id}");
    let patch = |name: &'static str| {
        let (app, path) = (app.clone(), path.clone());
        async move {
            let mut req = oneshot::as_user(
                "PATCH",
                &path,
                "ann",
                Some(&format!(r#"{{"name": "{name}"}}"#)),
            );
            req.headers_mut()
                .insert(header::IF_MATCH, "\"1\"".parse().unwrap());
            oneshot::send(&app, req).await
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(patch("from A")), tokio::spawn(patch("from B")));
    let mut statuses = [a.unwrap().status, b.unwrap().status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let current = oneshot::send(&app, oneshot::as_user("GET", &path, "ann", None)).await;
    assert_eq!(current.headers[header::ETAG], "\"2\"");
}

#[tokio::test]
async fn patch_without_if_match_changes_only_the_given_fields() {
    let app = app().await;
    let id = create(&app, "ann", "Before").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v2/app/projects/{id}");
    let answer = oneshot::send(
        &app,
        oneshot::as_user("PATCH", &path, "ann", Some(r#"{"name": "After"}"#)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let data = &answer.json()["data"];
    assert_eq!(data["name"], "After");
    assert_eq!(data["description"], "about Before");
}

#[tokio::test]
async fn deleted_project_is_404_and_leaves_the_list() {
    let app = app().await;
    let id = create(&app, "ann", "Doomed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/app/projects/{id}");
    let deleted = oneshot::send(&app, oneshot::as_user("DELETE", &path, "ann", None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"name": "x"}"#)),
        ("DELETE", None),
    ] {
        let answer = oneshot::send(&app, oneshot::as_user(method, &path, "ann", body)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
    }
    let list = oneshot::send(
        &app,
        oneshot::as_user("GET", "/api/v1/app/projects", "ann", None),
    )
    .await;
    assert_eq!(list.json()["total"], 0);
}

#[tokio::test]
async fn another_tenants_project_is_404_on_every_route() {
    let app = app().await;
    let id = create(&app, "ann", "Private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/app/projects/{id}");
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"name": "mine now"}"#)),
        ("DELETE", None),
    ] {
        let answer = oneshot::send(&app, oneshot::as_user(method, &path, "mallory", body)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");
    }
    let list = oneshot::send(
        &app,
        oneshot::as_user("GET", "/api/v1/app/projects", "mallory", None),
    )
    .await;
    assert_eq!(list.json()["total"], 0);
    let owner = oneshot::send(&app, oneshot::as_user("GET", &path, "ann", None)).await;
    assert_eq!(owner.json()["name"], "Private");
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
    let long_name = format!(r#"{{"name": "{}"}}"#, "x".repeat(256));
    let long_description = format!(r#"{{"name": "ok", "description": "{}"}}"#, "x".repeat(2001));
    let cases: [BadInput; 10] = [
        (
            "POST",
            "/api/v1/app/projects",
            Some(&long_name),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/app/projects",
            Some(r#"{"name": "  "}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            "POST",
            "/api/v1/app/projects",
            Some(&long_description),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("description"),
        ),
        (
            "POST",
            "/api/v1/app/projects",
            Some("{\"name\": "),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "GET",
            "/api/v1/app/projects?skip=-1",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("skip"),
        ),
        (
            "GET",
            "/api/v1/app/projects?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/app/projects?limit=101",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/app/projects?sort=owner",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("sort"),
        ),
        (
            "GET",
            "/api/v1/app/projects/not-a-uuid",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("project_id"),
        ),
        (
            "PATCH",
            "/api/v1/app/projects/not-a-uuid",
            Some(r#"{"name": "x"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("project_id"),
        ),
    ];
    for (method, path, body, status, field) in cases {
        let answer = oneshot::send(&app, oneshot::as_user(method, path, "ann", body)).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        let error = &answer.json()["error"];
        assert!(error["message"].is_string(), "{method} {path}");
        if let Some(field) = field {
            assert_eq!(error["details"]["field"], field, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = app().await;
    let api = serde_json::to_value(fn_projects::openapi()).unwrap();
    oneshot::assert_documented_routes_exist(&app, &api).await;
}

#[tokio::test]
async fn next_cursor_walks_the_list_and_a_bad_or_foreign_cursor_is_422() {
    let app = app().await;
    for i in 0..5 {
        create(&app, "ann", &format!("Walk {i}")).await;
    }
    let get = |query: String| {
        let app = app.clone();
        async move {
            let path = format!("/api/v1/app/projects?{query}");
            oneshot::send(&app, oneshot::as_user("GET", &path, "ann", None)).await
        }
    };
    let mut names = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = get(query.clone()).await.json();
        assert_eq!(page["total"], 5);
        assert_eq!(
            (&page["truncated"], &page["total_exact"]),
            (&false.into(), &true.into())
        );
        for item in page["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names, ["Walk 4", "Walk 3", "Walk 2", "Walk 1", "Walk 0"]);

    let by_name = get("limit=1&sort=name".into()).await.json();
    let name_cursor = by_name["next_cursor"].as_str().unwrap().to_owned();
    let newest = get("limit=1".into()).await.json();
    let key_cursor = newest["next_cursor"].as_str().unwrap().to_owned();
    for query in [
        "cursor=not-a-cursor".to_owned(),
        format!("cursor={name_cursor}"),
        format!("cursor={key_cursor}&skip=3"),
        format!("cursor={key_cursor}&order=asc"),
    ] {
        let answer = get(query.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            answer.text
        );
        let field = &answer.json()["error"]["details"]["field"];
        assert!(field == "cursor" || field == "skip", "{query}: {field}");
    }
    // Another tenant cannot continue this tenant's list.
    let path = format!("/api/v1/app/projects?cursor={key_cursor}");
    let answer = oneshot::send(&app, oneshot::as_user("GET", &path, "mallory", None)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_plans_daily_allowance_refuses_with_429_naming_the_day() {
    let env = TestEnv::new().await;
    let vars = env.env(&[
        ("RATE_LIMIT_DEFAULT_PER_MINUTE", "100000"),
        ("RATE_LIMIT_DAILY_FREE", "3"),
    ]);
    let app = fn_projects::router(
        fn_projects::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let user = format!("daily-{}", uuid::Uuid::now_v7());
    let list = || oneshot::as_user("GET", "/api/v1/app/projects", &user, None);
    let first = oneshot::send(&app, list()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // 2 of 3 left today is closer to its limit than 99,999 of 100,000 this minute.
    let header = |name: &str| first.headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        (header("x-ratelimit-limit"), header("x-ratelimit-remaining")),
        ("3".into(), "2".into())
    );
    assert_eq!(header("x-ratelimit-window"), "day");
    for _ in 0..2 {
        assert_eq!(oneshot::send(&app, list()).await.status, StatusCode::OK);
    }

    let refused = oneshot::send(&app, list()).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    let body = refused.json();
    assert_eq!(
        body["error"]["message"],
        "Daily request limit of your plan reached"
    );
    assert_eq!(body["error"]["details"]["window"], "day");
    assert_eq!(body["error"]["details"]["limit"], 3);
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let to_midnight = 86_400 - aloft_core::timestamp::unix_now() % 86_400;
    assert!(
        retry_after <= to_midnight && retry_after + 5 >= to_midnight,
        "{retry_after}"
    );
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
}
