//! `GET /app/ws/status`: the caller's open WebSocket connections. The realtime function
//! speaks WebSocket only, so its one HTTP read is served here, beside the caller's other
//! `/app/users/me`-style reads.

use aloft_auth::AuthUser;
use aloft_core::ApiError;
use aloft_http::{Reply, openapi::SignedIn};
use aloft_store::ConnectionRecord;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The caller's open WebSocket connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebSocketStatus {
    /// How many connections are open.
    pub count: usize,
    /// Oldest first.
    pub connections: Vec<WebSocketConnection>,
}

/// One open connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebSocketConnection {
    pub connection_id: String,
    /// RFC 3339, UTC.
    pub connected_at: String,
    /// The channels it joined, sorted (`user:<id>` from the start).
    pub channels: Vec<String>,
}

impl From<ConnectionRecord> for WebSocketConnection {
    fn from(record: ConnectionRecord) -> Self {
        let mut channels = record.channels;
        channels.sort();
        Self {
            connection_id: record.connection_id,
            connected_at: record.connected_at,
            channels,
        }
    }
}

/// The caller's open WebSocket connections and the channels each joined: one query of
/// the user's connection index. A connection past API Gateway's two-hour limit, or whose
/// credential has ended (the next push closes it), is left out even before its item
/// expires from the table; one opened a moment ago may be missing (the index is
/// eventually consistent).
#[utoipa::path(
    get,
    path = "/app/ws/status",
    tag = "Realtime",
    responses(
        SignedIn,
        (status = 200, description = "The caller's open connections", body = WebSocketStatus),
    )
)]
pub(crate) async fn get_ws_status(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Reply<WebSocketStatus>, ApiError> {
    let now = aloft_core::timestamp::unix_now();
    let connections: Vec<WebSocketConnection> = (state.connections)
        .of_user(&principal.user_id)
        .await?
        .into_iter()
        .filter(|connection| connection.expires_at > now && !connection.credential_ended(now))
        .map(WebSocketConnection::from)
        .collect();
    Ok(Reply::ok(WebSocketStatus {
        count: connections.len(),
        connections,
    }))
}
