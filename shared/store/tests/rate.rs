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
async fn an_exhausted_window_refuses() {
    let limiter = RateLimiter::new(table().await);
    let now = 1_800_000_000;
    limiter.hit("user:cy", "default", 1, 60, now).await.unwrap();
    let refused = limiter.hit("user:cy", "default", 1, 60, now).await.unwrap();
    assert!(!refused.allowed);
}
