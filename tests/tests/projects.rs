//! Projects through the running stack, as a real client.

use aloft_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Registers a fresh user and returns its `Authorization` header value.
async fn signed_in(stack: &Stack) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let credentials =
        format!(r#"{{"email": "proj-{nanos}@example.com", "password": "correct horse"}}"#);
    let json = [("content-type", "application/json")];
    stack
        .send_body(
            Method::POST,
            "/api/v1/public/auth/register",
            &json,
            &credentials,
        )
        .await;
    let login = stack
        .send_body(
            Method::POST,
            "/api/v1/public/auth/login",
            &json,
            &credentials,
        )
        .await;
    format!(
        "Bearer {}",
        login.json()["access_token"].as_str().unwrap_or_default()
    )
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn create_page_search_and_sort_projects() {
    let stack = Stack::new();
    let bearer = signed_in(&stack).await;
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    for i in 0..45 {
        let body = format!(r#"{{"name": "Project {i:02}"}}"#);
        let created = stack
            .send_body(Method::POST, "/api/v1/app/projects", &headers, &body)
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    }
    let auth = [("authorization", bearer.as_str())];
    let mut seen = Vec::new();
    for skip in [0, 20, 40] {
        let path = format!("/api/v1/app/projects?skip={skip}&limit=20&sort=name&order=asc");
        let page = stack.send(Method::GET, &path, &auth).await.json();
        assert_eq!(page["total"], 45);
        seen.extend(names(&page));
    }
    let expected: Vec<String> = (0..45).map(|i| format!("Project {i:02}")).collect();
    assert_eq!(seen, expected);

    let found = stack
        .send(
            Method::GET,
            "/api/v1/app/projects?search=project%204",
            &auth,
        )
        .await
        .json();
    assert_eq!(found["total"], 5);
    let newest = stack
        .send(Method::GET, "/api/v2/app/projects?limit=1", &auth)
        .await
        .json();
    assert_eq!(names(&newest["data"]), ["Project 44"]);
}
