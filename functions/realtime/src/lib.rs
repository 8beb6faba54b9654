//! `realtime`: the WebSocket API's function. API Gateway holds the sockets and invokes it
//! per event — `$connect` (authenticate, record the connection), `$default` (a client
//! frame: `subscribe`, `unsubscribe`, `message`) and `$disconnect` (forget it) — so any
//! instance can serve any event: all state is in the table, and pushes go through the
//! `@connections` management API. Channels per docs/api.md: `user:<own id>`,
//! `tenant:<own tenant>`, `project:<id>` of a project in the caller's tenant. A
//! connection lives no longer than the credential it was opened with: a frame or push
//! after that closes it.

mod credential;
mod frame;

use aloft_auth::{Guard, Principal};
use aloft_config::{ConfigError, Env};
use aloft_core::timestamp;
use aloft_queue::{Greeting, Job, Producer, QueueName, QueueUrls, Queued};
use aloft_realtime::{Broadcaster, Push, event};
use aloft_store::{
    ApiKeyRepo, AwsClients, AwsSettings, ConnectionRecord, Connections, JobRepo, ProjectRepo,
    Table, UsageMeter, realtime::CONNECTION_TTL_SECS, usage::WEBSOCKET_MESSAGES,
};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::Value;

use crate::{
    credential::Presented,
    frame::{Action, Channel, ChannelKind, Frame},
};

/// What API Gateway sends for each WebSocket event.
pub type WebsocketEvent = ApiGatewayWebsocketProxyRequest;

/// The function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct Realtime {
    /// Authenticates `$connect`, and counts each event against the user's rate limit
    /// (which also refuses a deactivated user), as for HTTP requests.
    pub guard: Guard,
    pub broadcaster: Broadcaster,
    pub projects: ProjectRepo,
    pub usage: UsageMeter,
    /// Queues the `connected` greeting for the jobs worker.
    pub producer: Producer,
    /// When an API key a connection opens with expires.
    pub api_keys: ApiKeyRepo,
}

impl Realtime {
    /// `TABLE_NAME`, `JWT_*`, the AWS settings, and `WEBSOCKET_MANAGEMENT_URL` (the
    /// stage's `@connections` endpoint).
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
        let table = Table::new(aws.dynamodb.clone(), env.required("TABLE_NAME")?);
        let guard = Guard::from_env(env, table.clone())?;
        let push = Push::new(&aws.sdk, &env.required("WEBSOCKET_MANAGEMENT_URL")?);
        let usage = UsageMeter::new(table.clone());
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs])?;
        let producer = Producer::new(&aws, JobRepo::new(table.clone()), urls);
        Ok(Self {
            producer,
            guard,
            broadcaster: Broadcaster::new(push, Connections::new(table.clone()), usage.clone()),
            api_keys: ApiKeyRepo::new(table.clone()),
            projects: ProjectRepo::new(table),
            usage,
        })
    }

    /// Answers one WebSocket event. `$connect`'s status decides the handshake; the others'
    /// answers are not seen by the client (events reach it through pushes).
    pub async fn handle(&self, event: WebsocketEvent) -> ApiGatewayProxyResponse {
        let context = &event.request_context;
        let Some(connection_id) = context.connection_id.clone() else {
            return status(400);
        };
        match context.route_key.as_deref() {
            Some("$connect") => self.connect(&event, &connection_id).await,
            Some("$disconnect") => match self.connections().close(&connection_id).await {
                Ok(()) => status(200),
                Err(e) => {
                    tracing::error!(error.cause = %e, "a closed connection was not forgotten");
                    status(500)
                }
            },
            _ => {
                self.receive(&connection_id, event.body.as_deref().unwrap_or(""))
                    .await;
                status(200)
            }
        }
    }

    fn connections(&self) -> &Connections {
        self.broadcaster.connections()
    }

    /// Authenticates the handshake and records the connection, with when its credential
    /// ends and the impersonation session it belongs to; 401 refuses the handshake.
    async fn connect(
        &self,
        event: &WebsocketEvent,
        connection_id: &str,
    ) -> ApiGatewayProxyResponse {
        let (principal, credential_expires_at) = match self.authenticate(event).await {
            Ok(admitted) => admitted,
            Err(code) => return status(code),
        };
        let now = timestamp::unix_now();
        let impersonation_session = principal
            .impersonator
            .as_ref()
            .and(principal.token_id.clone());
        let connection = ConnectionRecord {
            connection_id: connection_id.to_owned(),
            user_id: principal.user_id.clone(),
            tenant_id: principal.tenant_id.as_str().to_owned(),
            connected_at: timestamp::now(),
            channels: Vec::new(),
            expires_at: now + CONNECTION_TTL_SECS,
            credential_expires_at,
            impersonation_session,
        };
        // On its user's channel from the start, so notifications to the user reach it.
        let user_channel = format!("user:{}", principal.user_id);
        let opened = self.connections().open(&connection).await;
        let joined = match opened {
            Ok(()) => self.connections().join(&connection, &user_channel).await,
            Err(e) => Err(e),
        };
        if let Err(e) = joined {
            tracing::error!(error.cause = %e, "connection not recorded");
            return status(500);
        }
        // The greeting cannot be pushed before this answer completes the handshake.
        let greeting = Greeting {
            connection_id: connection_id.to_owned(),
        };
        let queued = async {
            let job = Job::RealtimeConnected(greeting)
                .new_job()?
                .for_user(Some(principal.user_id.clone()));
            self.producer.enqueue(job).await
        };
        if let Err(e) = queued.await {
            // The connection works without its greeting.
            tracing::error!(error.cause = %e, "the connected greeting was not queued");
        }
        status(200)
    }

    /// The caller of `?token=` (own or provider token) or `?api_key=`, admitted by the
    /// guard, and when its credential ends; else the status refusing the handshake.
    async fn authenticate(&self, event: &WebsocketEvent) -> Result<(Principal, Option<u64>), i64> {
        let query = &event.query_string_parameters;
        let presented = match (query.first("token"), query.first("api_key")) {
            (Some(token), _) => Presented::Token(token),
            (None, Some(key)) => Presented::ApiKey(key),
            (None, None) => return Err(401),
        };
        let Some(headers) = presented.headers() else {
            return Err(401);
        };
        let principal = match self.guard.authenticator().authenticate(&headers).await {
            Ok(Some(principal)) => principal,
            _ => return Err(401),
        };
        if let Err(refused) = self.guard.admit(&principal).await {
            return Err(i64::from(refused.code().status().as_u16()));
        }
        let ends = credential::expiry(presented, &principal, &self.api_keys).await?;
        Ok((principal, ends))
    }

    /// One client frame. Whatever is wrong with it is answered with an `error` event on
    /// the connection, never by closing it; but a connection whose credential has ended
    /// is closed, its frame unanswered.
    async fn receive(&self, connection_id: &str, body: &str) {
        let connection = match self.connections().get(connection_id).await {
            Ok(Some(connection)) => connection,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error.cause = %e, "connection not read");
                return;
            }
        };
        if connection.credential_ended(timestamp::unix_now()) {
            if let Err(e) = self.broadcaster.disconnect(connection_id).await {
                tracing::warn!(error.cause = %e, "a connection past its credential was not closed");
            }
            return;
        }
        // Metering and the limit check are independent writes: one round trip, not two.
        let principal = principal_of(&connection);
        let metered = self
            .usage
            .record(&connection.user_id, WEBSOCKET_MESSAGES, 1, None);
        let ((), admitted) = tokio::join!(metered, self.guard.admit(&principal));
        let answer = match admitted {
            Err(refused) => refused_event(&refused),
            Ok(()) => match self.act(&connection, body).await {
                Ok(Some(answer)) => answer,
                Ok(None) => return,
                Err(error) => error,
            },
        };
        let sent = self
            .broadcaster
            .to_connection(&connection, &answer, timestamp::unix_now())
            .await;
        if let Err(e) = sent {
            tracing::warn!(error.cause = %e, "answer not pushed");
        }
    }

    /// What the frame asks for; `Ok(Some)` is an answer to the sender, `Err` an `error`
    /// event.
    async fn act(&self, connection: &ConnectionRecord, body: &str) -> Result<Option<Value>, Value> {
        let Frame {
            action,
            channel,
            data,
        } = Frame::parse(body)?;
        let principal = principal_of(connection);
        self.authorize(&principal, &channel).await?;
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!(error.cause = %e, "channel operation failed");
            event::error("INTERNAL_ERROR", "Try again")
        };
        let channel = channel.name.as_str();
        match action {
            Action::Subscribe => {
                self.connections()
                    .join(connection, channel)
                    .await
                    .map_err(|e| failed(&e))?;
                Ok(Some(event::subscription("subscribed", channel)))
            }
            Action::Unsubscribe => {
                self.connections()
                    .leave(&connection.connection_id, channel)
                    .await
                    .map_err(|e| failed(&e))?;
                Ok(Some(event::subscription("unsubscribed", channel)))
            }
            Action::Message => {
                let message =
                    event::channel_message(channel, &data, &connection.user_id, &timestamp::now());
                self.broadcaster
                    .to_channel(
                        channel,
                        &message,
                        Some(&connection.connection_id),
                        timestamp::unix_now(),
                    )
                    .await
                    .map_err(|e| failed(&e))?;
                Ok(None)
            }
        }
    }

    /// `user:<own id>`, `tenant:<own tenant>`, `project:<id>` of a project in the
    /// caller's tenant (another tenant's project is indistinguishable from none).
    async fn authorize(&self, principal: &Principal, channel: &Channel) -> Result<(), Value> {
        let id = channel.id();
        let allowed = match channel.kind {
            ChannelKind::User => id == principal.user_id,
            ChannelKind::Tenant => id == principal.tenant_id.as_str(),
            ChannelKind::Project => match self.projects.get(&principal.tenant_id, id).await {
                Ok(project) => project.is_some(),
                Err(e) => {
                    tracing::error!(error.cause = %e, "project not read");
                    return Err(event::error("INTERNAL_ERROR", "Try again"));
                }
            },
        };
        if allowed {
            Ok(())
        } else {
            Err(event::error(
                "FORBIDDEN_CHANNEL",
                "You cannot use this channel",
            ))
        }
    }
}

/// A frame the guard refused, as an `error` event with the HTTP error's code
/// (`RATE_LIMIT_EXCEEDED`, or `AUTHENTICATION_ERROR` for a deactivated user).
fn refused_event(refused: &aloft_core::ApiError) -> Value {
    let message = match refused.code() {
        aloft_core::ErrorCode::RateLimitExceeded => "Too many messages; slow down",
        _ => "This account is deactivated",
    };
    event::error(refused.code().as_str(), message)
}

/// Who is on a connection, as recorded at `$connect`.
fn principal_of(connection: &ConnectionRecord) -> Principal {
    Principal {
        user_id: connection.user_id.clone(),
        tenant_id: aloft_store::TenantId::new(connection.tenant_id.clone()),
        membership: None,
        role: aloft_auth::Role::User,
        plan: aloft_auth::Plan::Free,
        email: None,
        impersonator: None,
        token_id: None,
        credential: aloft_auth::Credential::SESSIONLESS,
    }
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}
