//! The realtime function's handler with real API Gateway WebSocket events, against the
//! local emulator, pushing through a stand-in for the `@connections` management API that
//! answers 410 `GoneException` for connections it was told are gone.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

mod common;

use aloft_auth::Role;
use aloft_queue::{NewJob, QueueName};
use aloft_store::{JobRepo, ProjectRecord, ProjectRepo, Table, TenantId};
use aloft_testkit::{TestEnv, connections::FakeConnections, token_for};
use common::event;
use fn_realtime::Realtime;
use serde_json::{Value, json};

struct Fixture {
    vars: aloft_config::Env,
    realtime: Realtime,
    management: FakeConnections,
    table: Table,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let management = FakeConnections::start().await;
    let vars = env.env(&[("WEBSOCKET_MANAGEMENT_URL", &management.url)]);
    Fixture {
        realtime: Realtime::from_env(&vars).await.unwrap(),
        vars,
        management,
        table: Table::new(env.clients.dynamodb.clone(), env.table()),
    }
}

impl Fixture {
    async fn connect(&self, connection: &str, user: &str) -> i64 {
        let token = token_for(user, Role::User);
        let answer = self
            .realtime
            .handle(event("$connect", connection, Some(("token", &token)), None))
            .await;
        answer.status_code
    }

    async fn send(&self, connection: &str, frame: &str) {
        let answer = self
            .realtime
            .handle(event("$default", connection, None, Some(frame)))
            .await;
        assert_eq!(answer.status_code, 200);
    }

    /// The last event pushed to `connection`.
    fn last(&self, connection: &str) -> Value {
        self.management
            .pushed_to(connection)
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    async fn project(&self, tenant: &str, id: &str) {
        let project = ProjectRecord {
            id: id.into(),
            name: "Launch".into(),
            name_lower: "launch".into(),
            description: None,
            owner_id: "ann".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            deleted_at: None,
            version: 1,
        };
        // Its `project.created` is not what these tests are about: announce it as a
        // bare job record.
        let jobs = JobRepo::new(self.table.clone());
        let job = NewJob {
            id: format!("created-{}", project.id),
            kind: "event.fanout".into(),
            queue: QueueName::Jobs,
            payload: serde_json::json!({}),
            user_id: None,
        }
        .queued(None);
        ProjectRepo::new(self.table.clone())
            .create(&TenantId::new(tenant), &project, &mut |_| {
                jobs.create_write(&job)
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn connect_accepts_a_valid_token_and_refuses_a_bad_or_expired_one() {
    let f = fixture().await;
    assert_eq!(f.connect("Ann+Conn/1=", "ann").await, 200);
    let connection = aloft_store::Connections::new(f.table.clone())
        .get("Ann+Conn/1=")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (connection.user_id.as_str(), connection.tenant_id.as_str()),
        ("ann", "tenant-ann")
    );
    let on_own_channel = aloft_store::Connections::new(f.table.clone())
        .members("user:ann", aloft_core::timestamp::unix_now())
        .await
        .unwrap();
    assert_eq!(on_own_channel.len(), 1, "joined its user's channel at once");

    let refused = |query| f.realtime.handle(event("$connect", "c2=", query, None));
    assert_eq!(refused(None).await.status_code, 401, "no token");
    assert_eq!(refused(Some(("token", "not-a-jwt"))).await.status_code, 401);
    let expired = aloft_testkit::expired_token_for("ann");
    assert_eq!(refused(Some(("token", &expired))).await.status_code, 401);
    assert_eq!(
        refused(Some((
            "api_key",
            "aloft_00000000000000000000000000000000_x"
        )))
        .await
        .status_code,
        401
    );

    // A deactivated user's unexpired token no longer opens a connection.
    aloft_auth::Deactivation::from_env(&f.vars, &f.table)
        .unwrap()
        .deactivate("ann")
        .await
        .unwrap();
    assert_eq!(f.connect("Ann+Conn/2=", "ann").await, 401);
}

#[tokio::test]
async fn a_new_connection_is_greeted_once_its_handshake_is_done() {
    let f = fixture().await;
    assert_eq!(f.connect("Ann+Conn/1=", "ann").await, 200);
    let jobs = aloft_store::JobRepo::new(f.table.clone())
        .list(aloft_store::JobStatus::Queued)
        .await
        .unwrap();
    let greeting: Vec<_> = jobs
        .iter()
        .filter(|job| job.kind == "realtime.connected")
        .collect();
    assert_eq!(greeting.len(), 1, "queued for the jobs worker");
    assert_eq!(greeting[0].user_id.as_deref(), Some("ann"));

    let greeter = f.realtime.broadcaster.clone();
    // Pushes fail with 410 until API Gateway has finished the handshake: try again later.
    f.management.close("Ann+Conn/1=");
    assert!(greeter.greet("Ann+Conn/1=").await.is_err());
    assert!(
        aloft_store::Connections::new(f.table.clone())
            .get("Ann+Conn/1=")
            .await
            .unwrap()
            .is_some(),
        "a greeting that came too early forgets nothing"
    );
    f.connect("Bob=", "bob").await;
    assert_eq!(greeter.greet("Bob=").await, Ok(true));
    let connected = f.last("Bob=");
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["data"]["user_id"], "bob");
    assert!(connected["data"]["connected_at"].is_string());
    assert_eq!(greeter.greet("never-connected=").await, Ok(false));
}

#[tokio::test]
async fn channels_are_authorised_by_owner_tenant_and_project() {
    let f = fixture().await;
    f.project("tenant-ann", "p1").await;
    f.project("tenant-eve", "p2").await;
    f.connect("ann=", "ann").await;
    let cases = [
        ("user:ann", "subscribed"),
        ("tenant:tenant-ann", "subscribed"),
        ("project:p1", "subscribed"),
        ("user:bob", "FORBIDDEN_CHANNEL"),
        ("tenant:tenant-eve", "FORBIDDEN_CHANNEL"),
        ("project:p2", "FORBIDDEN_CHANNEL"),
        ("project:missing", "FORBIDDEN_CHANNEL"),
        ("room:1", "INVALID_CHANNEL"),
        ("project:", "INVALID_CHANNEL"),
        ("projectp1", "INVALID_CHANNEL"),
    ];
    for (channel, expected) in cases {
        let frame = json!({"type": "subscribe", "channel": channel}).to_string();
        f.send("ann=", &frame).await;
        let answer = f.last("ann=");
        let got = answer["code"].as_str().or(answer["type"].as_str()).unwrap();
        assert_eq!(got, expected, "{channel}: {answer}");
    }
    for (frame, code) in [
        ("not json", "INVALID_JSON"),
        (r#"{"type": "dance"}"#, "UNKNOWN_TYPE"),
        (r#"{"type": "subscribe"}"#, "INVALID_CHANNEL"),
    ] {
        f.send("ann=", frame).await;
        assert_eq!(f.last("ann=")["code"], code, "{frame}");
    }
}

#[tokio::test]
async fn a_message_fans_out_to_the_channel_and_a_gone_connection_is_forgotten() {
    let f = fixture().await;
    f.project("tenant-team", "p1").await;
    let subscribe = json!({"type": "subscribe", "channel": "project:p1"}).to_string();
    // Three members of one tenant (tokens for the same tenant), plus the sender.
    for (connection, user) in [("a=", "ann"), ("b=", "bob"), ("c=", "cy"), ("gone=", "dee")] {
        let token = team_token(user);
        let answer = f
            .realtime
            .handle(event("$connect", connection, Some(("token", &token)), None))
            .await;
        assert_eq!(answer.status_code, 200);
        f.send(connection, &subscribe).await;
        assert_eq!(f.last(connection)["type"], "subscribed");
    }
    f.management.close("gone=");

    let message =
        json!({"type": "message", "channel": "project:p1", "data": {"content": "Hello team!"}});
    f.send("a=", &message.to_string()).await;
    for connection in ["b=", "c="] {
        let received = f.last(connection);
        assert_eq!(received["type"], "channel_message", "{received}");
        assert_eq!(received["sender_id"], "ann");
        assert_eq!(received["data"]["content"], "Hello team!");
    }
    assert_eq!(
        f.last("a=")["type"],
        "subscribed",
        "the sender gets no copy"
    );

    let connections = aloft_store::Connections::new(f.table.clone());
    assert!(
        connections.get("gone=").await.unwrap().is_none(),
        "410 forgets the connection"
    );
    let members: Vec<_> = connections
        .members("project:p1", aloft_core::timestamp::unix_now())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.connection_id)
        .collect();
    assert_eq!(members.len(), 3, "{members:?}");

    let closed = f
        .realtime
        .handle(event("$disconnect", "b=", None, None))
        .await;
    assert_eq!(closed.status_code, 200);
    assert!(connections.get("b=").await.unwrap().is_none());
    let members = connections
        .members("project:p1", aloft_core::timestamp::unix_now())
        .await
        .unwrap();
    assert_eq!(members.len(), 2);
}

/// A token for `user` in the shared tenant `tenant-team`.
fn team_token(user: &str) -> String {
    aloft_testkit::token_in_tenant(user, "tenant-team")
}
