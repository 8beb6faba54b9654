//! Pushing events to WebSocket clients: the `@connections` management API ([`Push`]), the
//! events of the protocol ([`event`]), and fan-out to a channel's connections with
//! bounded concurrency that forgets connections found gone ([`Broadcaster`]). A
//! connection whose credential has ended is closed (`DeleteConnection`) and forgotten
//! instead of sent to, and a user's connections can be closed at once
//! ([`Broadcaster::disconnect_user`]).

mod closing;
pub mod event;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aloft_store::{
    ConnectionRecord, Connections, StoreError, UsageMeter, usage::WEBSOCKET_MESSAGES,
};
use aws_sdk_apigatewaymanagement::{
    Client,
    error::DisplayErrorContext,
    operation::{
        delete_connection::DeleteConnectionError, post_to_connection::PostToConnectionError,
    },
    primitives::Blob,
};
use serde_json::Value;

/// At most this many pushes are in flight for one fan-out.
const FAN_OUT_CONCURRENCY: usize = 16;

/// What a push found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Sent,
    /// The connection is closed (410 `GoneException`).
    Gone,
    /// The connection's credential had ended: it was closed (`DeleteConnection`) and
    /// forgotten, and not sent to.
    Closed,
}

#[derive(Debug, thiserror::Error)]
#[error("push to a WebSocket connection failed: {0}")]
pub struct PushError(String);

/// The management API of one WebSocket API stage.
#[derive(Debug, Clone)]
pub struct Push {
    sdk: aws_config::SdkConfig,
    endpoint: String,
    /// Built on the first push, not at cold start.
    client: Arc<OnceLock<Client>>,
}

impl Push {
    /// Pushes through the management API at `endpoint`:
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` in AWS, the local
    /// WebSocket gateway's address locally. Calls carry the shared config's timeouts.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        Self {
            sdk: sdk.clone(),
            endpoint: endpoint.to_owned(),
            client: Arc::default(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk)
                .endpoint_url(&self.endpoint)
                .build();
            Client::from_conf(config)
        })
    }

    /// Sends `event` (JSON text) to one connection.
    pub async fn send(&self, connection_id: &str, event: &Value) -> Result<Pushed, PushError> {
        let sent = self
            .client()
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(event.to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Pushed::Sent),
            Err(e) => match e.as_service_error() {
                Some(PostToConnectionError::GoneException(_)) => Ok(Pushed::Gone),
                _ => Err(PushError(DisplayErrorContext(e).to_string())),
            },
        }
    }

    /// Closes one connection (`DELETE @connections/{id}`): the client sees its socket
    /// closed and API Gateway invokes `$disconnect`. `Gone` when it was closed already.
    pub async fn delete(&self, connection_id: &str) -> Result<Pushed, PushError> {
        let deleted = self
            .client()
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(Pushed::Closed),
            Err(e) => match e.as_service_error() {
                Some(DeleteConnectionError::GoneException(_)) => Ok(Pushed::Gone),
                _ => Err(PushError(DisplayErrorContext(e).to_string())),
            },
        }
    }
}

/// Sends events to connections and channels: forgets a connection found gone and meters
/// `websocket_messages` for each user who received one.
#[derive(Debug, Clone)]
pub struct Broadcaster {
    push: Push,
    connections: Connections,
    usage: UsageMeter,
}

impl Broadcaster {
    pub fn new(push: Push, connections: Connections, usage: UsageMeter) -> Self {
        Self {
            push,
            connections,
            usage,
        }
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Sends `event` to one connection, unless its credential has ended by `now`
    /// (epoch seconds): then it is closed instead.
    pub async fn to_connection(
        &self,
        connection: &ConnectionRecord,
        event: &Value,
        now: u64,
    ) -> Result<Pushed, PushError> {
        let id = connection.connection_id.as_str();
        if connection.credential_ended(now) {
            return self.disconnect(id).await;
        }
        let pushed = self.deliver(id, event).await?;
        if pushed == Pushed::Sent {
            self.usage
                .record(&connection.user_id, WEBSOCKET_MESSAGES, 1, None)
                .await;
        }
        Ok(pushed)
    }

    /// Greets an open connection with `connected`. `Ok(false)`: it closed before the
    /// greeting, or its credential has ended (it is closed now). A push that finds it
    /// gone while its record stands means the handshake has not finished yet: an error,
    /// for the job to be tried again.
    pub async fn greet(&self, connection_id: &str) -> Result<bool, String> {
        let Some(connection) = self
            .connections
            .get(connection_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        if connection.credential_ended(closing::unix_now()) {
            self.disconnect(connection_id)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(false);
        }
        let greeting = event::connected(&connection.user_id, &connection.connected_at);
        match self.push.send(connection_id, &greeting).await {
            Ok(Pushed::Sent) => {
                self.usage
                    .record(&connection.user_id, WEBSOCKET_MESSAGES, 1, None)
                    .await;
                Ok(true)
            }
            // `send` finds a connection open or gone.
            Ok(_) => Err(format!("connection {connection_id} is not open yet")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends `event` to every connection on `channel` except `except` (the sender's),
    /// [`FAN_OUT_CONCURRENCY`] at a time; a connection whose credential has ended by
    /// `now` is closed instead. Returns how many connections received it; a push that
    /// fails otherwise is logged and skipped, so one bad connection does not keep the
    /// others from their message.
    pub async fn to_channel(
        &self,
        channel: &str,
        event: &Value,
        except: Option<&str>,
        now: u64,
    ) -> Result<usize, StoreError> {
        let members = self.connections.members(channel, now).await?;
        let mut received: HashMap<String, i64> = HashMap::new();
        let targets: Vec<_> = members
            .into_iter()
            .filter(|m| Some(m.connection_id.as_str()) != except)
            .collect();
        for batch in targets.chunks(FAN_OUT_CONCURRENCY) {
            let mut pushes = tokio::task::JoinSet::new();
            for member in batch {
                let (this, member, event) = (self.clone(), member.clone(), event.clone());
                pushes.spawn(async move {
                    let pushed = if member.credential_ended(now) {
                        this.disconnect(&member.connection_id).await
                    } else {
                        this.deliver(&member.connection_id, &event).await
                    };
                    (member, pushed)
                });
            }
            while let Some(done) = pushes.join_next().await {
                match done {
                    Ok((member, Ok(Pushed::Sent))) => {
                        *received.entry(member.user_id).or_default() += 1;
                    }
                    Ok((_, Ok(Pushed::Gone | Pushed::Closed))) => {}
                    Ok((member, Err(e))) => {
                        tracing::warn!(error.cause = %e, connection.id = %member.connection_id, "push failed");
                    }
                    Err(e) => tracing::error!(error.cause = %e, "a push task failed"),
                }
            }
        }
        let delivered = received.values().sum::<i64>();
        for (user_id, count) in received {
            self.usage
                .record(&user_id, WEBSOCKET_MESSAGES, count, None)
                .await;
        }
        Ok(usize::try_from(delivered).unwrap_or(0))
    }

    /// Pushes, and forgets the connection if it is gone.
    async fn deliver(&self, connection_id: &str, event: &Value) -> Result<Pushed, PushError> {
        let pushed = self.push.send(connection_id, event).await?;
        if pushed == Pushed::Gone {
            tracing::info!(connection.id = connection_id, "connection gone; forgotten");
            if let Err(e) = self.connections.close(connection_id).await {
                tracing::warn!(error.cause = %e, connection.id = connection_id, "a gone connection was not forgotten");
            }
        }
        Ok(pushed)
    }
}
