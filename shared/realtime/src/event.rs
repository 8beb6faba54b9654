//! The server's events of the WebSocket protocol (the reference's `connected`,
//! `channel_message`, `notification`, `error`, plus `subscribed`/`unsubscribed`
//! acknowledgements), as JSON.

use serde_json::{Value, json};

pub fn connected(user_id: &str, connected_at: &str) -> Value {
    json!({"type": "connected", "data": {"user_id": user_id, "connected_at": connected_at}})
}

pub fn channel_message(channel: &str, data: &Value, sender_id: &str, timestamp: &str) -> Value {
    json!({
        "type": "channel_message",
        "channel": channel,
        "data": data,
        "sender_id": sender_id,
        "timestamp": timestamp,
    })
}

/// A published event (`project.updated`, …) on one of the channels it concerns.
pub fn published(event: &str, channel: &str, data: &Value, timestamp: &str) -> Value {
    json!({
        "type": "event",
        "event": event,
        "channel": channel,
        "data": data,
        "timestamp": timestamp,
    })
}

pub fn notification(data: &Value) -> Value {
    json!({"type": "notification", "data": data})
}

/// The answer to a `subscribe` (or `unsubscribe`) that took effect: from now on the
/// connection receives (no longer receives) the channel's messages.
pub fn subscription(kind: &str, channel: &str) -> Value {
    json!({"type": kind, "channel": channel})
}

pub fn error(code: &str, message: &str) -> Value {
    json!({"type": "error", "message": message, "code": code})
}
