//! Connections that outlive their credential: `$connect` records when it ends, and the
//! next push or frame after that closes the connection (`DELETE @connections/{id}`)
//! instead of serving it. The management API is a local receiver that accepts every
//! call and records it, against the local emulator.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

mod common;

use std::time::Duration;

use aloft_auth::{Credential, JwtKeys, Plan, Principal, Role};
use aloft_core::timestamp::unix_now;
use aloft_store::{
    ApiKeyRecord, ApiKeyRepo, Connections, CreateApiKeyOutcome, ImpersonationSession,
    ImpersonationSessions, Table, TenantId, UserRepo,
};
use aloft_testkit::{TestEnv, auth_config, receiver::Receiver, token_for};
use common::event;
use fn_realtime::Realtime;
use serde_json::json;

struct Fixture {
    realtime: Realtime,
    management: Receiver,
    table: Table,
    connections: Connections,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let management = Receiver::start().await;
    let vars = env.env(&[("WEBSOCKET_MANAGEMENT_URL", &management.url)]);
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    Fixture {
        realtime: Realtime::from_env(&vars).await.unwrap(),
        management,
        connections: Connections::new(table.clone()),
        table,
    }
}

fn principal(user: &str) -> Principal {
    Principal {
        user_id: user.to_owned(),
        tenant_id: TenantId::new(format!("tenant-{user}")),
        membership: None,
        role: Role::User,
        plan: Plan::Free,
        email: None,
        impersonator: None,
        token_id: None,
        credential: Credential::SESSIONLESS,
    }
}

/// A token for `principal`, issued now, that expires `ttl` later.
fn token_lasting(principal: &Principal, ttl: Duration) -> String {
    JwtKeys::new(&auth_config())
        .issue_with_ttl(principal, unix_now(), ttl)
        .unwrap()
}

impl Fixture {
    async fn connect(&self, connection: &str, token: &str) -> i64 {
        let connect = event("$connect", connection, Some(("token", token)), None);
        self.realtime.handle(connect).await.status_code
    }

    /// The management API's calls on `connection`, as (method, body), in order.
    fn calls_on(&self, connection: &str) -> Vec<(String, String)> {
        let path = format!("/@connections/{connection}");
        self.management
            .received()
            .into_iter()
            .filter(|call| call.path.ends_with(&path))
            .map(|call| (call.method, call.body))
            .collect()
    }
}

/// A closing call: `DELETE`, no body.
fn closed() -> Vec<(String, String)> {
    vec![("DELETE".to_owned(), String::new())]
}

#[tokio::test]
async fn a_connection_whose_token_expired_is_closed_on_the_next_push_and_not_sent_to() {
    let f = fixture().await;
    assert_eq!(
        f.connect("lasting", &token_for("ann", Role::User)).await,
        200
    );
    let short = token_lasting(&principal("ann"), Duration::from_secs(2));
    assert_eq!(f.connect("stale", &short).await, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let notification = json!({"type": "notification", "data": {"title": "Hello"}});
    let received = f
        .realtime
        .broadcaster
        .to_channel("user:ann", &notification, None, unix_now())
        .await
        .unwrap();

    assert_eq!(received, 1, "only the connection whose token is valid");
    let sent = vec![("POST".to_owned(), notification.to_string())];
    assert_eq!(f.calls_on("lasting"), sent);
    assert_eq!(f.calls_on("stale"), closed(), "closed, not sent to");
    assert!(f.connections.get("stale").await.unwrap().is_none());
    let members = f.connections.members("user:ann", unix_now()).await.unwrap();
    assert_eq!(
        members.len(),
        1,
        "forgotten on its channel too: {members:?}"
    );
}

#[tokio::test]
async fn a_frame_on_a_connection_whose_token_expired_is_refused_and_closes_it() {
    let f = fixture().await;
    let short = token_lasting(&principal("bob"), Duration::from_secs(2));
    assert_eq!(f.connect("stale", &short).await, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let subscribe = json!({"type": "subscribe", "channel": "user:bob"}).to_string();
    let answer = f
        .realtime
        .handle(event("$default", "stale", None, Some(&subscribe)))
        .await;

    assert_eq!(answer.status_code, 200);
    assert_eq!(
        f.calls_on("stale"),
        closed(),
        "closed, the frame unanswered"
    );
    assert!(f.connections.get("stale").await.unwrap().is_none());
}

#[tokio::test]
async fn a_connection_records_its_tokens_expiry_and_its_impersonation_session() {
    let f = fixture().await;
    let now = unix_now();
    let session = ImpersonationSession {
        admin_id: "root".into(),
        user_id: "ann".into(),
        expires_at: now + 600,
        revoked: false,
    };
    ImpersonationSessions::new(f.table.clone())
        .start("jti-1", &session)
        .await
        .unwrap();
    let acting = Principal {
        impersonator: Some("root".into()),
        token_id: Some("jti-1".into()),
        ..principal("ann")
    };
    let token = JwtKeys::new(&auth_config())
        .issue_with_ttl(&acting, now, Duration::from_secs(600))
        .unwrap();

    assert_eq!(f.connect("as-ann", &token).await, 200);

    let connection = f.connections.get("as-ann").await.unwrap().unwrap();
    assert_eq!(connection.credential_expires_at, Some(now + 600));
    assert_eq!(connection.impersonation_session.as_deref(), Some("jti-1"));
    let of_ann = f.connections.of_user("ann").await.unwrap();
    assert_eq!(of_ann.len(), 1, "listed under its user");
}

#[tokio::test]
async fn a_connection_opened_with_an_api_key_ends_when_the_key_expires() {
    let f = fixture().await;
    let owner = aloft_testkit::user_record("ann");
    UserRepo::new(f.table.clone()).create(&owner).await.unwrap();
    let (id, api_key, secret_hash) = aloft_auth::new_api_key().unwrap();
    let record = ApiKeyRecord {
        id,
        user_id: "ann".into(),
        tenant_id: "tenant-ann".into(),
        member_role: None,
        role: "user".into(),
        plan: "free".into(),
        scopes: vec!["read".into()],
        expires_at: Some("2099-01-01T00:00:00Z".into()),
        last_used_at: None,
        name: "ci".into(),
        prefix: "x".into(),
        secret_hash,
        created_at: "2026-01-01T00:00:00Z".into(),
        disabled: false,
    };
    let created = ApiKeyRepo::new(f.table.clone()).create(&record).await;
    assert_eq!(created.unwrap(), CreateApiKeyOutcome::Created);

    let connect = event("$connect", "by-key", Some(("api_key", &api_key)), None);
    assert_eq!(f.realtime.handle(connect).await.status_code, 200);

    let connection = f.connections.get("by-key").await.unwrap().unwrap();
    assert_eq!(connection.credential_expires_at, Some(4_070_908_800));
    assert_eq!(connection.impersonation_session, None);
}
