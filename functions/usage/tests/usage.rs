//! The usage routes against the local emulator: counts seeded through the shared meter
//! on known days, read back through the router as users and admins.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{
    Table, UsageMeter, UsageOwner, UserRepo,
    usage::{AI_TOKENS, API_REQUESTS, FILE_UPLOADS, previous_month},
};
use aloft_testkit::{
    TestEnv,
    oneshot::{self, Answer, as_role, as_user},
    user_record,
};
use axum::Router;
use http::StatusCode;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

struct Fixture {
    meter: UsageMeter,
    users: UserRepo,
    app: Router,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[]);
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    Fixture {
        meter: UsageMeter::new(table.clone()),
        users: UserRepo::new(table),
        app: fn_usage::router(
            fn_usage::AppState::from_env(&vars).await.unwrap(),
            &HttpConfig::from_env(&vars).unwrap(),
        ),
    }
}

impl Fixture {
    async fn get(&self, user: &str, path: &str) -> Answer {
        oneshot::send(&self.app, as_user("GET", path, user, None)).await
    }

    async fn get_ok(&self, user: &str, path: &str) -> Value {
        let answer = self.get(user, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        answer.json()
    }

    async fn admin(&self, path: &str) -> Answer {
        let request = as_role("GET", path, "boss", aloft_auth::Role::Admin, None);
        oneshot::send(&self.app, request).await
    }
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::now_v7())
}

#[tokio::test]
async fn every_report_reads_what_was_counted_and_only_the_callers() {
    let f = fixture().await;
    let (ann, bob) = (unique("ann"), unique("bob"));
    let today = OffsetDateTime::now_utc().date();
    let yesterday = today - Duration::days(1);
    let last_month = previous_month(today);
    let add = |user: &str, metric, day, amount, dimension| {
        let (meter, user) = (f.meter.clone(), user.to_owned());
        async move {
            meter
                .add(&UsageOwner::user(&user), metric, day, amount, dimension)
                .await
                .unwrap();
        }
    };
    add(&ann, AI_TOKENS, today, 300, Some("gpt-4o")).await;
    add(&ann, AI_TOKENS, today, 100, Some("claude-sonnet-4-5")).await;
    add(&ann, AI_TOKENS, last_month, 200, Some("gpt-4o")).await;
    add(&ann, FILE_UPLOADS, yesterday, 2, None).await;
    add(&ann, FILE_UPLOADS, today, 1, None).await;
    add(&bob, AI_TOKENS, today, 9999, Some("gpt-4o")).await;

    let current = f.get_ok(&ann, "/api/v1/app/usage/current-period").await;
    assert_eq!(current["ai_tokens"], 400);
    // On the first of a month, yesterday belongs to the previous period.
    let this_month_uploads = if yesterday.month() == today.month() {
        3
    } else {
        1
    };
    assert_eq!(current["file_uploads"], this_month_uploads);
    assert_eq!(current["email_sent"], 0);
    let month_start = format!("{}T00:00:00Z", today.replace_day(1).unwrap());
    assert_eq!(current["period"]["start"], month_start.as_str());

    let summary = f
        .get_ok(&ann, "/api/v1/app/usage/summary?metric=ai_tokens")
        .await;
    let tokens = &summary["metrics"]["ai_tokens"];
    assert_eq!(tokens["current_period"], 400);
    assert_eq!(tokens["previous_period"], 200);
    assert_eq!(tokens["growth_rate"], 100.0);
    let expected_average = (40000.0 / f64::from(today.day())).round() / 100.0;
    assert_eq!(tokens["daily_average"], expected_average);
    assert_eq!(
        summary["metrics"].as_object().unwrap().len(),
        1,
        "only the metric asked for"
    );
    let all = f.get_ok(&ann, "/api/v2/app/usage/summary").await;
    assert_eq!(all["data"]["metrics"].as_object().unwrap().len(), 9);

    let daily = f
        .get_ok(&ann, "/api/v1/app/usage/daily?metric=file_uploads&days=3")
        .await;
    let data = daily["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[1]["date"], yesterday.to_string().as_str());
    assert_eq!(data[1]["value"], 2);
    assert_eq!(data[2]["date"], today.to_string().as_str());
    assert_eq!(data[2]["value"], 1);
    assert_eq!(
        (daily["total"].clone(), daily["average"].clone()),
        (3.into(), 1.0.into())
    );

    let breakdown = f
        .get_ok(&ann, "/api/v1/app/usage/breakdown?metric=ai_tokens")
        .await;
    assert_eq!(breakdown["breakdown"]["gpt-4o"], 300);
    assert_eq!(breakdown["breakdown"]["claude-sonnet-4-5"], 100);
    assert_eq!(breakdown["total"], 400);

    let trends = f
        .get_ok(&ann, "/api/v1/app/usage/trends?metric=file_uploads&days=7")
        .await;
    assert_eq!(trends["current_period"], 3);
    assert_eq!(trends["previous_period"], 0);
    assert_eq!(trends["peak_day"], yesterday.to_string().as_str());
    assert_eq!(trends["peak_value"], 2);
    assert_eq!(trends["trend"], "increasing");

    // The usage routes are API requests too: the guard counted them by route group.
    let requests = f
        .get_ok(&ann, "/api/v1/app/usage/breakdown?metric=api_requests")
        .await;
    assert_eq!(requests["breakdown"]["usage"], requests["total"]);
    assert!(requests["total"].as_i64().unwrap() >= 6);
}

#[tokio::test]
async fn bad_parameters_are_422_naming_the_parameter() {
    let f = fixture().await;
    for (path, field) in [
        ("/api/v1/app/usage/daily?metric=bogus", "metric"),
        ("/api/v1/app/usage/daily?metric=ai_tokens&days=91", "days"),
        ("/api/v1/app/usage/trends?metric=ai_tokens&days=0", "days"),
        ("/api/v1/app/usage/summary?metric=bogus", "metric"),
        ("/api/v1/app/usage/breakdown?metric=bogus", "metric"),
    ] {
        let answer = f.get("ann", path).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(answer.json()["error"]["details"]["field"], field, "{path}");
    }
    let metrics = f.get_ok("ann", "/api/v1/app/usage/metrics").await;
    let keys: Vec<_> = metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 9);
    assert!(keys.contains(&"websocket_messages".to_owned()));
}

#[tokio::test]
async fn admins_rank_users_and_read_anyones_summary() {
    let f = fixture().await;
    let today = OffsetDateTime::now_utc().date();
    for (id, tokens) in [("light", 12), ("heavy", 125_000), ("moderate", 45_000)] {
        f.users.create(&user_record(id)).await.unwrap();
        f.meter
            .add(
                &UsageOwner::user(id),
                AI_TOKENS,
                today,
                tokens,
                Some("gpt-4o"),
            )
            .await
            .unwrap();
    }
    f.meter
        .add(
            &UsageOwner::user("light"),
            API_REQUESTS,
            today,
            500,
            Some("projects"),
        )
        .await
        .unwrap();

    let top = f
        .admin("/api/v1/admin/usage/top-users?metric=ai_tokens&limit=2")
        .await;
    assert_eq!(top.status, StatusCode::OK, "{}", top.text);
    let top = top.json();
    let ranked: Vec<_> = top["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        ranked,
        [
            ("heavy@example.com", 125_000),
            ("moderate@example.com", 45_000)
        ]
    );
    let requests = f.admin("/api/v1/admin/usage/top-users").await.json();
    assert_eq!(requests["metric"], "api_requests");
    assert_eq!(requests["users"][0]["user_id"], "light");

    let summary = f.admin("/api/v1/admin/usage/summary/heavy").await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(
        summary.json()["metrics"]["ai_tokens"]["current_period"],
        125_000
    );
    assert_eq!(
        f.admin("/api/v1/admin/usage/summary/nobody").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.admin("/api/v1/admin/usage/top-users?limit=101")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let as_user = f.get("heavy", "/api/v1/admin/usage/top-users").await;
    assert_eq!(as_user.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_a_metric_the_reports_of_one_metric_read_api_requests() {
    let f = fixture().await;
    let ann = unique("ann");
    f.meter
        .add(
            &UsageOwner::user(&ann),
            API_REQUESTS,
            OffsetDateTime::now_utc().date(),
            40,
            Some("projects"),
        )
        .await
        .unwrap();
    for path in [
        "/api/v1/app/usage/trends",
        "/api/v1/app/usage/daily",
        "/api/v1/app/usage/breakdown",
    ] {
        let report = f.get_ok(&ann, path).await;
        assert_eq!(report["metric"], "api_requests", "{path}");
    }
    let breakdown = f.get_ok(&ann, "/api/v1/app/usage/breakdown").await;
    assert_eq!(breakdown["breakdown"]["projects"], 40);
}

#[tokio::test]
async fn admins_read_a_users_reports_as_the_user_sees_them() {
    let f = fixture().await;
    let (ann, bob) = (unique("ann"), unique("bob"));
    f.users.create(&user_record(&ann)).await.unwrap();
    let today = OffsetDateTime::now_utc().date();
    for (user, day, tokens) in [
        (&ann, today, 300),
        (&ann, today - Duration::days(2), 120),
        (&bob, today, 9999),
    ] {
        f.meter
            .add(
                &UsageOwner::user(user),
                AI_TOKENS,
                day,
                tokens,
                Some("gpt-4o"),
            )
            .await
            .unwrap();
    }

    for report in [
        "trends?metric=ai_tokens&days=7",
        "daily?metric=ai_tokens&days=7",
        "breakdown?metric=ai_tokens",
    ] {
        let (name, query) = report.split_once('?').unwrap();
        let own = f.get_ok(&ann, &format!("/api/v1/app/usage/{report}")).await;
        let admin = f
            .admin(&format!("/api/v1/admin/usage/{name}/{ann}?{query}"))
            .await;
        assert_eq!(admin.status, StatusCode::OK, "{report}: {}", admin.text);
        assert_eq!(admin.json(), own, "{report}");
    }
    let daily = f
        .admin(&format!(
            "/api/v1/admin/usage/daily/{ann}?metric=ai_tokens&days=3"
        ))
        .await
        .json();
    assert_eq!(daily["total"], 420, "ann's own, none of bob's");

    let metrics = f.admin("/api/v1/admin/usage/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(
        metrics.json(),
        f.get_ok(&ann, "/api/v1/app/usage/metrics").await
    );

    for path in ["trends/nobody", "daily/nobody", "breakdown/nobody"] {
        let answer = f.admin(&format!("/api/v1/admin/usage/{path}")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json()["error"]["code"], "NOT_FOUND", "{path}");
    }
    for path in [
        format!("/api/v1/admin/usage/trends/{ann}"),
        format!("/api/v1/admin/usage/daily/{ann}"),
        format!("/api/v1/admin/usage/breakdown/{ann}"),
        "/api/v1/admin/usage/metrics".to_owned(),
    ] {
        let answer = f.get(&ann, &path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
}
