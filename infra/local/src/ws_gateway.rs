//! The local WebSocket gateway: what API Gateway's WebSocket API does for the `realtime`
//! function, on one port. It accepts `ws://…/api/{v1,v2}/app/ws?…`, invokes the function
//! through cargo lambda watch's Invoke API with real `$connect`, `$default` and
//! `$disconnect` events (a handshake the function answers with other than 200 is refused
//! with that status), and serves the stage's `@connections` management API —
//! `POST` (push a frame), `GET` (describe), `DELETE` (close), 410 `GoneException` for an
//! unknown id — which the functions reach through their normal endpoint setting.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, handshake::derive_accept_key, protocol::Role},
};

use crate::{
    sqs_shim::Invoke,
    wire::{json_response as status, now_millis, percent_decode},
};

/// The local gateway's address (docs/api.md "Local endpoints").
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9001";

/// The function behind the WebSocket API (`template.yaml`'s `RealtimeFunction`).
pub const FUNCTION: &str = "realtime";

/// What the management API can do to an open socket.
#[derive(Debug)]
enum Outgoing {
    Frame(String),
    Close,
}

#[derive(Debug)]
struct Socket {
    outbox: mpsc::UnboundedSender<Outgoing>,
    connected_at: String,
    source_ip: String,
}

/// The gateway's state: the open sockets by connection id.
#[derive(Debug)]
pub struct Gateway<I> {
    invoker: I,
    sockets: Mutex<HashMap<String, Socket>>,
}

type Answer = Response<Full<Bytes>>;

impl<I: Invoke + Send + Sync + 'static> Gateway<I> {
    pub fn new(invoker: I) -> Arc<Self> {
        Arc::new(Self {
            invoker,
            sockets: Mutex::new(HashMap::new()),
        })
    }

    /// Serves `listener` until the runtime stops.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        while let Ok((stream, peer)) = listener.accept().await {
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let gateway = gateway.clone();
                    async move {
                        Ok::<_, Infallible>(gateway.route(request, peer.ip().to_string()).await)
                    }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    }

    async fn route(self: Arc<Self>, request: Request<Incoming>, source_ip: String) -> Answer {
        let path = request.uri().path().to_owned();
        if let Some(id) = path.strip_prefix("/@connections/") {
            let id = percent_decode(id);
            let method = request.method().clone();
            let authorization = request.headers().get(header::AUTHORIZATION);
            crate::call_log::record_management_call(
                authorization.and_then(|v| v.to_str().ok()),
                &method,
                &id,
            );
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return status(StatusCode::BAD_REQUEST, ""),
            };
            return self.manage(&method, &id, body);
        }
        if matches!(path.as_str(), "/api/v1/app/ws" | "/api/v2/app/ws") {
            return self.upgrade(request, source_ip).await;
        }
        status(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#)
    }

    /// The `@connections` management API.
    fn manage(&self, method: &Method, id: &str, body: Bytes) -> Answer {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(socket) = sockets.get(id) else {
            let mut gone = status(StatusCode::GONE, r#"{"message":null}"#);
            gone.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("GoneException"),
            );
            return gone;
        };
        match *method {
            Method::POST => {
                let frame = String::from_utf8_lossy(&body).into_owned();
                let _ = socket.outbox.send(Outgoing::Frame(frame));
                status(StatusCode::OK, "")
            }
            Method::GET => {
                let description = json!({
                    "connectedAt": socket.connected_at,
                    "identity": {"sourceIp": socket.source_ip, "userAgent": "aloft-local"},
                    "lastActiveAt": socket.connected_at,
                });
                status(StatusCode::OK, &description.to_string())
            }
            Method::DELETE => {
                let _ = socket.outbox.send(Outgoing::Close);
                sockets.remove(id);
                status(StatusCode::NO_CONTENT, "")
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, ""),
        }
    }

    /// `$connect`, then the socket's life: frames in as `$default`, pushes out, and
    /// `$disconnect` when it closes.
    async fn upgrade(self: Arc<Self>, mut request: Request<Incoming>, source_ip: String) -> Answer {
        let Some(key) = request
            .headers()
            .get("sec-websocket-key")
            .filter(|_| is_upgrade(&request))
            .map(|key| derive_accept_key(key.as_bytes()))
        else {
            return status(StatusCode::BAD_REQUEST, "WebSocket upgrade required");
        };
        let connection_id = new_connection_id();
        let now_ms = now_millis();
        let connect = event(&request, "$connect", &connection_id, &source_ip, now_ms);
        let answer = self.invoker.invoke(FUNCTION, connect).await;
        let code = match &answer {
            Ok(answer) => answer["statusCode"].as_u64().unwrap_or(500),
            Err(e) => {
                tracing::warn!(error = %e, "$connect failed");
                502
            }
        };
        if code != 200 {
            let code = StatusCode::from_u16(u16::try_from(code).unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return status(code, "");
        }
        let template = event(&request, "$default", &connection_id, &source_ip, now_ms);
        let upgraded = hyper::upgrade::on(&mut request);
        let gateway = self.clone();
        tokio::spawn(async move {
            match upgraded.await {
                Ok(io) => {
                    let socket =
                        WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None)
                            .await;
                    gateway
                        .live(socket, connection_id, source_ip, template)
                        .await;
                }
                Err(e) => tracing::warn!(error = %e, "upgrade failed"),
            }
        });
        let mut response = status(StatusCode::SWITCHING_PROTOCOLS, "");
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&key) {
            headers.insert("sec-websocket-accept", accept);
        }
        response
    }

    async fn live<S>(
        self: Arc<Self>,
        socket: WebSocketStream<S>,
        connection_id: String,
        source_ip: String,
        template: Value,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        use futures_util::{SinkExt, StreamExt};
        let (outbox, mut pushes) = mpsc::unbounded_channel();
        self.sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                connection_id.clone(),
                Socket {
                    outbox,
                    connected_at: aloft_core::timestamp::now(),
                    source_ip,
                },
            );
        let (mut sink, mut frames) = socket.split();
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(Outgoing::Frame(text)) => {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                },
                frame = frames.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.invoke(&template, "$default", Some(text.as_str())).await;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        self.invoke(&template, "$default", Some(&text)).await;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        self.sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&connection_id);
        self.invoke(&template, "$disconnect", None).await;
    }

    /// Invokes the function with `template` turned into a `route` event.
    async fn invoke(&self, template: &Value, route: &str, body: Option<&str>) {
        let mut event = template.clone();
        event["requestContext"]["routeKey"] = json!(route);
        event["requestContext"]["eventType"] = json!(event_type(route));
        event["requestContext"]["requestTimeEpoch"] = json!(now_millis());
        if let Some(body) = body {
            event["body"] = json!(body);
        }
        if let Err(e) = self.invoker.invoke(FUNCTION, event).await {
            tracing::warn!(error = %e, route, "invocation failed");
        }
    }
}

fn is_upgrade<B>(request: &Request<B>) -> bool {
    let has = |name, value: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(value))
            })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

fn event_type(route: &str) -> &'static str {
    match route {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    }
}

/// The event API Gateway sends for `route`, with the handshake's headers and query.
fn event<B>(
    request: &Request<B>,
    route: &str,
    connection_id: &str,
    source_ip: &str,
    connected_at_ms: u128,
) -> Value {
    let mut headers = serde_json::Map::new();
    let mut multi_headers = serde_json::Map::new();
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            headers.insert(name.as_str().to_owned(), json!(value));
            multi_headers.insert(name.as_str().to_owned(), json!([value]));
        }
    }
    let mut query = serde_json::Map::new();
    let mut multi_query = serde_json::Map::new();
    for pair in request.uri().query().unwrap_or_default().split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            let value = percent_decode(value);
            query.insert(percent_decode(name), json!(value));
            multi_query.insert(percent_decode(name), json!([value]));
        }
    }
    let mut event = json!({
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": {
            "routeKey": route,
            "eventType": event_type(route),
            "extendedRequestId": format!("local-{connection_id}"),
            "messageDirection": "IN",
            "stage": "local",
            "connectedAt": connected_at_ms,
            "requestTimeEpoch": now_millis(),
            "identity": {"sourceIp": source_ip, "userAgent": request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("")},
            "requestId": format!("local-{}", now_millis()),
            "domainName": "127.0.0.1",
            "connectionId": connection_id,
            "apiId": "local"
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
        event["multiValueQueryStringParameters"] = Value::Object(multi_query);
    }
    event
}

/// A connection id shaped like API Gateway's (base64: `=`, `+` and `/` included), so the
/// functions' URL encoding of it is exercised locally too.
fn new_connection_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let seed = uuid::Uuid::new_v4().as_u128();
    let mut id: String = (0..11)
        .map(|i| char::from(ALPHABET[((seed >> (i * 6)) & 63) as usize]))
        .collect();
    id.push_str("+/=");
    id
}
