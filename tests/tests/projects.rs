//! Projects through the running stack, as a real client.

use aloft_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
    let (bearer, _) = stack.new_user("proj").await;
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

#[tokio::test]
async fn upload_download_and_delete_a_file_with_plain_http() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("proj").await;
    let bytes: &[u8] = b"real bytes through a presigned URL";
    let file_id = stack.upload_file(&bearer, "notes.txt", bytes).await;
    let file_id = file_id.as_str();
    let http = reqwest::Client::new();
    let auth = [("authorization", bearer.as_str())];
    let list = stack
        .send(Method::GET, "/api/v1/app/files", &auth)
        .await
        .json();
    assert_eq!(list["total"], 1);

    let download = stack
        .send(
            Method::GET,
            &format!("/api/v1/app/files/{file_id}/download-url"),
            &auth,
        )
        .await
        .json();
    let url = download["download_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fetched = http.get(&url).send().await.map(|r| r.status());
    assert_eq!(fetched.ok(), Some(StatusCode::OK));
    let got = http.get(&url).send().await;
    let got = match got {
        Ok(response) => response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default(),
        Err(e) => panic!("download failed: {e}"),
    };
    assert_eq!(got, bytes);

    let deleted = stack
        .send(
            Method::DELETE,
            &format!("/api/v1/app/files/{file_id}"),
            &auth,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let refused = http.get(&url).send().await.map(|r| r.status());
    assert_eq!(refused.ok(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn a_file_is_read_by_its_tenant_and_by_no_one_else() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("file-get").await;
    let (other, _) = stack.new_user("file-get-other").await;
    let file_id = stack
        .upload_file(&owner, "read-me.txt", b"metadata only")
        .await;
    let path = format!("/api/v1/app/files/{file_id}");

    let file = stack.call(&owner, Method::GET, &path, "").await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.text);
    let file = file.json();
    assert_eq!(file["id"], file_id.as_str());
    assert_eq!(file["filename"], "read-me.txt");
    assert_eq!(file["size"], 13);
    assert_eq!(file["status"], "uploaded");
    let list = stack
        .call(&owner, Method::GET, "/api/v1/app/files", "")
        .await
        .json();
    assert_eq!(list["items"][0], file, "the view the list shows");

    let hidden = stack.call(&other, Method::GET, &path, "").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
    assert_eq!(hidden.json()["error"]["code"], "NOT_FOUND");
    let malformed = stack
        .call(&owner, Method::GET, "/api/v1/app/files/not-a-uuid", "")
        .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.json()["error"]["details"]["field"], "file_id");
}
