//! A stand-in for API Gateway's `@connections` management API, as the realtime code calls
//! it: `POST /@connections/{id}` with the event as the body (the id percent-encoded),
//! answered 200, or 410 `GoneException` for a connection the test has closed.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use serde_json::Value;
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::receiver::{FakeServer, read_request, serve_on};

/// The management API of one stage, on 127.0.0.1 at a free port.
#[derive(Debug, Clone)]
pub struct FakeConnections {
    pub url: String,
    pushed: Arc<Mutex<Vec<(String, Value)>>>,
    gone: Arc<Mutex<HashSet<String>>>,
}

impl FakeServer for FakeConnections {
    fn serve(&self, stream: TcpStream) -> impl std::future::Future<Output = ()> + Send {
        self.handle(stream)
    }
}

impl FakeConnections {
    pub async fn start() -> Self {
        serve_on("127.0.0.1:0", |url| Self {
            url,
            pushed: Arc::default(),
            gone: Arc::default(),
        })
        .await
        .expect("a free local port")
    }

    /// From now on pushes to `connection_id` find it gone.
    pub fn close(&self, connection_id: &str) {
        self.gone
            .lock()
            .expect("gone lock")
            .insert(connection_id.to_owned());
    }

    /// The events pushed to `connection_id`, in order.
    pub fn pushed_to(&self, connection_id: &str) -> Vec<Value> {
        let pushed = self.pushed.lock().expect("pushed lock");
        pushed
            .iter()
            .filter(|(id, _)| id == connection_id)
            .map(|(_, event)| event.clone())
            .collect()
    }

    async fn handle(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let id = request
            .path
            .strip_prefix("/@connections/")
            .map(percent_decode);
        let (status, error) = match id {
            Some(id) if request.method == "POST" => {
                if self.gone.lock().expect("gone lock").contains(&id) {
                    ("410 Gone", Some("GoneException"))
                } else {
                    let event = serde_json::from_str(&request.body).unwrap_or(Value::Null);
                    self.pushed.lock().expect("pushed lock").push((id, event));
                    ("200 OK", None)
                }
            }
            _ => ("404 Not Found", Some("NotFoundException")),
        };
        let (error_header, body) = match error {
            Some(kind) => (
                format!("x-amzn-errortype: {kind}\r\n"),
                r#"{"message":null}"#,
            ),
            None => (String::new(), ""),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\n{error_header}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// `%XX` escapes decoded (API Gateway's connection ids contain `=`, `+`, `/`).
fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}
