//! `HttpInvoker` against a fake Lambda Invoke API: a local server that answers one
//! request with a canned HTTP/1.1 response.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::time::Duration;

use aloft_local::sqs_shim::{HttpInvoker, Invoke, InvokeError};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one request with `status` and a JSON `body`; the handle yields the request.
async fn serve_once(status: &'static str, body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let request = read_request(&mut socket).await;
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        request
    });
    (url, server)
}

/// Reads the head and a `content-length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .map_or(0, |v| v.parse::<usize>().unwrap());
            if bytes.len() >= end + 4 + length || n == 0 {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_lambda_error_object_is_a_function_error() {
    let (url, server) = serve_once(
        "500 Internal Server Error",
        r#"{"errorType":"&alloc::boxed::Box<dyn core::error::Error>","errorMessage":"table missing"}"#,
    )
    .await;

    let result = HttpInvoker::new(url, TIMEOUT)
        .invoke("jobs-worker", json!({"Records": []}))
        .await;

    assert_eq!(
        result,
        Err(InvokeError::Function {
            error_type: "&alloc::boxed::Box<dyn core::error::Error>".into(),
            error_message: "table missing".into(),
        })
    );
    let request = server.await.unwrap();
    assert!(request.starts_with("POST /2015-03-31/functions/jobs-worker/invocations HTTP/1.1"));
    assert!(request.ends_with(r#"{"Records":[]}"#));
}

#[tokio::test]
async fn a_batch_response_is_returned_as_json() {
    let (url, _server) = serve_once(
        "200 OK",
        r#"{"batchItemFailures":[{"itemIdentifier":"m1"}]}"#,
    )
    .await;

    let answer = HttpInvoker::new(url, TIMEOUT)
        .invoke("jobs-worker", Value::Null)
        .await
        .unwrap();

    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[tokio::test]
async fn a_function_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let timeout = Duration::from_millis(200);

    let result = HttpInvoker::new(url, timeout)
        .invoke("jobs-worker", Value::Null)
        .await;

    assert_eq!(result, Err(InvokeError::Timeout(timeout)));
    drop(listener);
}

#[tokio::test]
async fn no_server_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let result = HttpInvoker::new(url, TIMEOUT)
        .invoke("jobs-worker", Value::Null)
        .await;

    assert!(
        matches!(result, Err(InvokeError::Unreachable(_))),
        "{result:?}"
    );
}
