//! The local WebSocket gateway's `@connections` API closing a socket as API Gateway's
//! `DeleteConnection` does: 204, the client sees its socket closed, `$disconnect` is
//! invoked, and the id is gone (410) afterwards. The function behind it is a recorder
//! that admits every handshake.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use aloft_local::{
    sqs_shim::{Invoke, InvokeError},
    ws_gateway::Gateway,
};
use futures_util::{SinkExt, StreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::tungstenite::Message;

/// The `realtime` function: answers 200 to every event and keeps them.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Invoke for Recorder {
    async fn invoke(&self, _function: &str, event: Value) -> Result<Value, InvokeError> {
        self.0.lock().unwrap().push(event);
        Ok(json!({"statusCode": 200}))
    }
}

impl Recorder {
    /// The routes invoked so far, with their connection ids.
    fn routes(&self) -> Vec<(String, String)> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .map(|event| {
                let context = &event["requestContext"];
                let route = context["routeKey"].as_str().unwrap_or_default();
                let id = context["connectionId"].as_str().unwrap_or_default();
                (route.to_owned(), id.to_owned())
            })
            .collect()
    }

    /// Waits up to 2 s for `route` to be invoked; the connection id it was invoked for.
    async fn invoked(&self, route: &str) -> String {
        for _ in 0..100 {
            if let Some((_, id)) = self.routes().into_iter().find(|(r, _)| r == route) {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{route} was not invoked within 2 s: {:?}", self.routes());
    }
}

/// `DELETE /@connections/{id}` (the id percent-encoded, as the SDK sends it): the
/// status code.
async fn delete(gateway: SocketAddr, id: &str) -> u16 {
    let mut stream = TcpStream::connect(gateway).await.unwrap();
    let path = utf8_percent_encode(id, NON_ALPHANUMERIC);
    let request = format!(
        "DELETE /@connections/{path} HTTP/1.1\r\nhost: {gateway}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap_or_default();
    status.parse().unwrap()
}

#[tokio::test]
async fn deleting_a_connection_closes_its_socket_and_invokes_disconnect() {
    let function = Recorder::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap();
    tokio::spawn(Gateway::new(function.clone()).serve(listener));
    let url = format!("ws://{gateway}/api/v1/app/ws?token=t");
    let stream = TcpStream::connect(gateway).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let id = function.invoked("$connect").await;
    // A frame through `$default` shows the socket is live (registered for pushes).
    socket.send(Message::text("{}")).await.unwrap();
    function.invoked("$default").await;

    assert_eq!(delete(gateway, &id).await, 204);

    let ended = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(
        matches!(ended, Some(Ok(Message::Close(_)) | Err(_)) | None),
        "{ended:?}"
    );
    assert_eq!(function.invoked("$disconnect").await, id);
    assert_eq!(delete(gateway, &id).await, 410, "gone once closed");
}
