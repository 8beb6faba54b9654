//! Rate-limit windows against the local emulator.

use aloft_store::{RateLimiter, Table};
use aloft_testkit::TestEnv;

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

#[tokio::test]
async fn fifty_concurrent_requests_against_a_limit_of_ten_admit_exactly_ten() {
    let limiter = RateLimiter::new(table().await);
    let now = 1_800_000_000;
    let attempts = (0..50).map(|_| {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.hit("ip:203.0.113.7", "default", 10, 60, now).await })
    });
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap().allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}

#[tokio::test]
async fn remaining_counts_down_and_a_new_window_starts_fresh() {
    let limiter = RateLimiter::new(table().await);
    let now = 1_800_000_010;
    let first = limiter
        .hit("user:ann", "auth:login", 2, 60, now)
        .await
        .unwrap();
    assert_eq!((first.allowed, first.remaining), (true, 1));
    assert_eq!(first.reset_at, 1_800_000_060);
    let second = limiter
        .hit("user:ann", "auth:login", 2, 60, now)
        .await
        .unwrap();
    assert_eq!((second.allowed, second.remaining), (true, 0));
    let third = limiter
        .hit("user:ann", "auth:login", 2, 60, now)
        .await
        .unwrap();
    assert!(!third.allowed);
    let next_window = limiter
        .hit("user:ann", "auth:login", 2, 60, now + 60)
        .await
        .unwrap();
    assert!(next_window.allowed);
}

#[tokio::test]
async fn a_blocked_subject_is_refused_over_the_whole_span_until_unblocked() {
    let limiter = RateLimiter::new(table().await);
    let now = 1_800_000_030;
    let horizon = 15 * 60;
    limiter
        .block("user:ann", &["default", "ai"], 60, now, horizon)
        .await
        .unwrap();
    for (class, at) in [
        ("default", now),
        ("ai", now + 300),
        ("default", now + horizon),
    ] {
        let window = limiter.hit("user:ann", class, 100, 60, at).await.unwrap();
        assert!(
            !window.allowed && window.blocked,
            "{class} at +{}",
            at - now
        );
    }
    let after = limiter
        .hit("user:ann", "default", 100, 60, now + horizon + 60)
        .await
        .unwrap();
    assert!(after.allowed, "the block ends with its span");
    let other = limiter
        .hit("user:bob", "default", 100, 60, now)
        .await
        .unwrap();
    assert!(other.allowed && !other.blocked);

    limiter
        .unblock("user:ann", &["default", "ai"], 60, now, horizon)
        .await
        .unwrap();
    let unblocked = limiter
        .hit("user:ann", "ai", 100, 60, now + 300)
        .await
        .unwrap();
    assert!(unblocked.allowed && !unblocked.blocked);
}

#[tokio::test]
async fn an_exhausted_window_is_over_the_limit_not_blocked() {
    let limiter = RateLimiter::new(table().await);
    let now = 1_800_000_000;
    limiter.hit("user:cy", "default", 1, 60, now).await.unwrap();
    let refused = limiter.hit("user:cy", "default", 1, 60, now).await.unwrap();
    assert!(!refused.allowed && !refused.blocked);
}
