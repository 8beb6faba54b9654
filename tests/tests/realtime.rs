//! Realtime end to end: real WebSocket clients through the local gateway
//! (ws://127.0.0.1:9001), the realtime function under cargo lambda watch, pushes back
//! through the gateway's @connections API, and the event bus (a project change through
//! the HTTP API reaching both its channel and the tenant's webhook).

use std::time::Duration;

use aloft_e2e::{Stack, eventually};
use aloft_testkit::receiver::Receiver;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, error::Error as WsError},
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const GATEWAY: &str = "ws://127.0.0.1:9001";

async fn open(bearer: &str) -> Socket {
    let token = bearer.trim_start_matches("Bearer ");
    let url = format!("{GATEWAY}/api/v1/app/ws?token={token}");
    let (socket, _) = connect_async(url.into_client_request().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}. Is the stack up? `make e2e` starts it"));
    let mut socket = socket;
    // The greeting comes through the jobs queue once the handshake is done.
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "connected", "{hello}");
    socket
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::text(frame.to_string()))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
}

/// The next event on `socket` (a cold function may take a while to answer).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no event within 60 s"));
        match frame {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn subscribe(socket: &mut Socket, channel: &str) -> Value {
    send(socket, json!({"type": "subscribe", "channel": channel})).await;
    next(socket).await
}

#[tokio::test]
async fn messages_reach_the_channel_and_other_tenants_are_refused() {
    let stack = Stack::new();
    let (ann, _) = stack.new_user("ws-ann").await;
    let (eve, _) = stack.new_user("ws-eve").await;
    let created = stack
        .call(
            &ann,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Launch"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let project = created.json()["id"].as_str().unwrap_or_default().to_owned();
    let channel = format!("project:{project}");

    // Two connections of the project's tenant (two devices of its owner), one of another.
    let mut laptop = open(&ann).await;
    let mut phone = open(&ann).await;
    for socket in [&mut laptop, &mut phone] {
        let answer = subscribe(socket, &channel).await;
        assert_eq!(answer["type"], "subscribed", "{answer}");
    }
    let mut outsider = open(&eve).await;
    let refused = subscribe(&mut outsider, &channel).await;
    assert_eq!(refused["code"], "FORBIDDEN_CHANNEL", "{refused}");

    send(
        &mut laptop,
        json!({"type": "message", "channel": channel, "data": {"content": "Hello team!"}}),
    )
    .await;
    let received = next(&mut phone).await;
    assert_eq!(received["type"], "channel_message", "{received}");
    assert_eq!(received["channel"], channel.as_str());
    assert_eq!(received["data"]["content"], "Hello team!");
    assert_eq!(received["sender_id"], stack.user_id(&ann).await.as_str());

    // A bad frame is answered with an error event; the socket stays open.
    send(&mut outsider, json!({"type": "dance"})).await;
    assert_eq!(next(&mut outsider).await["code"], "UNKNOWN_TYPE");
    let eve_id = stack.user_id(&eve).await;
    let own = subscribe(&mut outsider, &format!("user:{eve_id}")).await;
    assert_eq!(own["type"], "subscribed", "{own}");
    for socket in [laptop, phone, outsider] {
        let mut socket = socket;
        socket.close(None).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The local stack's table, read directly: what `$disconnect` left behind.
async fn connections() -> aloft_store::Connections {
    let emulator =
        std::env::var("ALOFT_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:5100".into());
    let clients =
        aloft_store::AwsClients::connect(&aloft_store::AwsSettings::local(emulator)).await;
    let table = aloft_store::Table::new(clients.dynamodb, "aloft-local-app-table");
    aloft_store::Connections::new(table)
}

#[tokio::test]
async fn closing_a_socket_runs_disconnect_and_removes_its_items() {
    let stack = Stack::new();
    let (user, _) = stack.new_user("ws-closing").await;
    let channel = format!("user:{}", stack.user_id(&user).await);
    let connections = connections().await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let mut socket = open(&user).await;
    let members = connections
        .members(&channel, now())
        .await
        .unwrap_or_default();
    assert_eq!(members.len(), 1, "the open socket is on its user's channel");
    let connection_id = members[0].connection_id.clone();

    socket.close(None).await.unwrap_or_else(|e| panic!("{e}"));
    eventually("$disconnect removes the connection", async || {
        let gone = connections.get(&connection_id).await.ok()?.is_none();
        let left = connections.members(&channel, now()).await.ok()?.is_empty();
        (gone && left).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_handshake_without_a_valid_token_is_refused() {
    let url = format!("{GATEWAY}/api/v1/app/ws?token=not-a-token");
    match connect_async(url).await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn a_project_change_reaches_its_channel_and_the_tenants_webhook() {
    let stack = Stack::new();
    let (ann, _) = stack.new_user("ws-events").await;
    let receiver = Receiver::start().await;
    let subscription = json!({"url": receiver.url, "events": ["project.updated"]}).to_string();
    let subscribed = stack
        .call(
            &ann,
            Method::POST,
            "/api/v1/app/webhook-subscriptions",
            &subscription,
        )
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.text
    );
    let secret = subscribed.json()["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let created = stack
        .call(
            &ann,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Launch"}"#,
        )
        .await;
    let project = created.json()["id"].as_str().unwrap_or_default().to_owned();
    let mut socket = open(&ann).await;
    let channel = format!("project:{project}");
    assert_eq!(subscribe(&mut socket, &channel).await["type"], "subscribed");

    let path = format!("/api/v1/app/projects/{project}");
    let patched = stack
        .call(&ann, Method::PATCH, &path, r#"{"name": "Launch v2"}"#)
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    let pushed = next(&mut socket).await;
    assert_eq!(pushed["type"], "event", "{pushed}");
    assert_eq!(pushed["event"], "project.updated");
    assert_eq!(pushed["channel"], channel.as_str());
    assert_eq!(pushed["data"]["name"], "Launch v2");
    let delivery = eventually("the signed project.updated delivery", async || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.body.contains(&project))
    })
    .await;
    assert!(delivery.signed_with(&secret), "{:?}", delivery.headers);
    assert_eq!(delivery.headers["x-webhook-event"], "project.updated");
    let body: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
    assert_eq!(body["data"]["name"], "Launch v2");
    socket.close(None).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn an_admins_change_of_a_users_plan_is_pushed_to_the_users_connections() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let (user, _) = stack.new_user("ws-notified").await;
    let user_id = stack.user_id(&user).await;
    // No subscribe: a connection is on its user's channel from the start.
    let mut socket = open(&user).await;
    let path = format!("/api/v1/admin/users/{user_id}");
    let changed = stack
        .call(&admin, Method::PATCH, &path, r#"{"plan": "pro"}"#)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let notification = next(&mut socket).await;
    assert_eq!(notification["type"], "notification", "{notification}");
    assert!(
        notification["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("pro")),
        "{notification}"
    );
    socket.close(None).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_deactivated_users_open_socket_is_closed_within_seconds() {
    let stack = Stack::new();
    let admin = stack.admin().await;
    let (user, _) = stack.new_user("ws-deactivated").await;
    let user_id = stack.user_id(&user).await;
    let mut socket = open(&user).await;

    let path = format!("/api/v1/admin/users/{user_id}/deactivate");
    let deactivated = stack.call(&admin, Method::POST, &path, "").await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);

    // The jobs worker closes it (`realtime.disconnect`): the server ends the socket.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the socket was still open 30 s after the deactivation"
    );
}

/// `GET /app/ws/status` as `bearer`.
async fn ws_status(stack: &Stack, bearer: &str) -> Value {
    let answer = stack
        .call(bearer, Method::GET, "/api/v1/app/ws/status", "")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

#[tokio::test]
async fn ws_status_lists_the_callers_open_connections_and_forgets_a_closed_one() {
    let stack = Stack::new();
    let (ann, _) = stack.new_user("ws-status").await;
    let (bob, _) = stack.new_user("ws-status-other").await;
    let own_channel = format!("user:{}", stack.user_id(&ann).await);
    assert_eq!(ws_status(&stack, &ann).await["count"], 0);

    let mut laptop = open(&ann).await;
    let phone = open(&ann).await;
    let elsewhere = open(&bob).await;
    // The user's connection index is eventually consistent.
    let status = eventually("both of ann's connections listed", async || {
        let status = ws_status(&stack, &ann).await;
        (status["count"] == 2).then_some(status)
    })
    .await;
    for connection in status["connections"].as_array().into_iter().flatten() {
        assert!(connection["connection_id"].is_string(), "{status}");
        assert!(connection["connected_at"].is_string(), "{status}");
        let channels = connection["channels"].as_array();
        assert!(
            channels.is_some_and(|c| c.contains(&Value::from(own_channel.as_str()))),
            "on its user's channel from the start: {status}"
        );
    }
    let bobs = eventually("bob's own connection only", async || {
        let status = ws_status(&stack, &bob).await;
        (status["count"] == 1).then_some(status)
    })
    .await;
    assert_eq!(bobs["connections"].as_array().map(Vec::len), Some(1));

    laptop.close(None).await.unwrap_or_else(|e| panic!("{e}"));
    eventually("the closed connection is gone", async || {
        (ws_status(&stack, &ann).await["count"] == 1).then_some(())
    })
    .await;
    for socket in [phone, elsewhere] {
        let mut socket = socket;
        socket.close(None).await.unwrap_or_else(|e| panic!("{e}"));
    }
}
