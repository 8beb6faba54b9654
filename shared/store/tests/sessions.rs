//! Sessions (refresh-token families) against the emulator: listed per user, extended by
//! each rotation, and revoked for as long as their newest token lives.

use aloft_store::{Key, RefreshRecord, RefreshTokens, Rotation, SessionRecord, SessionUse, Table};
use aloft_testkit::TestEnv;

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

fn seen(at: &str) -> SessionUse {
    SessionUse {
        at: at.into(),
        user_agent: Some("curl/8".into()),
        ip: Some("203.0.113.7".into()),
    }
}

#[tokio::test]
async fn a_revoked_family_stays_revoked_as_long_as_its_newest_token() {
    let table = table().await;
    let tokens = RefreshTokens::new(table.clone());
    let first = RefreshRecord {
        user_id: "sess-ann".into(),
        family_id: "sess-fam-1".into(),
        rotated: false,
        expires_at: 1_000,
    };
    tokens
        .start("sess-h1", &first, &seen("2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    let rotated = tokens
        .rotate(
            "sess-h1",
            "sess-h2",
            500,
            2_000,
            &seen("2026-01-01T00:10:00Z"),
        )
        .await
        .unwrap();
    assert!(matches!(rotated, Rotation::Rotated { .. }), "{rotated:?}");

    let listed = tokens.sessions("sess-ann", 500).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].created_at.as_str(),
            listed[0].last_used_at.as_str()
        ),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z")
    );
    assert_eq!(
        listed[0].expires_at, 2_000,
        "the family lives as long as its newest token"
    );

    // The stolen first token is presented again: the family is revoked, and the marker
    // keeps the newest token's expiry, not the presented one's.
    let reused = tokens
        .rotate(
            "sess-h1",
            "sess-h3",
            600,
            2_100,
            &seen("2026-01-01T00:11:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(reused, Rotation::Reused);
    let family: SessionRecord = table
        .get(&Key::refresh_family("sess-fam-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(family.revoked.as_deref(), Some("true"));
    assert_eq!(family.expires_at, 2_000);
    let newest = tokens
        .rotate(
            "sess-h2",
            "sess-h4",
            1_500,
            2_500,
            &seen("2026-01-01T00:25:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        newest,
        Rotation::Reused,
        "the newest token is dead too, after the first's expiry"
    );
    assert!(tokens.sessions("sess-ann", 1_500).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_revokes_only_their_own_sessions_and_may_keep_one() {
    let table = table().await;
    let tokens = RefreshTokens::new(table);
    for (hash, family) in [
        ("own-h1", "own-f1"),
        ("own-h2", "own-f2"),
        ("own-h3", "own-f3"),
    ] {
        let record = RefreshRecord {
            user_id: "own-ann".into(),
            family_id: family.into(),
            rotated: false,
            expires_at: 10_000,
        };
        tokens
            .start(hash, &record, &seen("2026-01-01T00:00:00Z"))
            .await
            .unwrap();
    }
    assert!(
        !tokens.revoke_session("own-bob", "own-f1").await.unwrap(),
        "not bob's"
    );
    assert!(tokens.revoke_session("own-ann", "own-f1").await.unwrap());
    tokens.revoke_user("own-ann", Some("own-f3")).await.unwrap();
    let left: Vec<String> = tokens
        .sessions("own-ann", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.family_id)
        .collect();
    assert_eq!(left, ["own-f3"]);
}
