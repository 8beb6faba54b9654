//! The capacity every DynamoDB call consumes reaches the request's AWS usage, as the
//! emulator reports it (infra/local/moto_capacity.py: DynamoDB's on-demand rules).

use aloft_core::aws_usage::measure;
use aloft_store::{RateLimiter, Table, UsageMeter, usage::API_REQUESTS};
use aloft_testkit::TestEnv;

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

#[tokio::test]
async fn a_conditional_update_is_one_write_and_counts_as_one_call() {
    let limiter = RateLimiter::new(table().await);
    let (window, usage) = measure(limiter.hit("user:ann", "default", 10, 60, 1_800_000_000)).await;
    assert!(window.unwrap().allowed);
    assert_eq!(usage.dynamodb_calls, 1);
    assert_eq!(usage.dynamodb_write_units, 1.0);
    assert_eq!(usage.dynamodb_read_units, 0.0);
}

#[tokio::test]
async fn a_read_of_a_missing_item_is_half_a_unit() {
    let usage_meter = UsageMeter::new(table().await);
    let month = time::macros::date!(2026 - 12 - 01);
    let (read, usage) = measure(usage_meter.month("nobody", API_REQUESTS, month)).await;
    assert_eq!(read.unwrap().total, 0);
    assert_eq!(usage.dynamodb_calls, 1);
    assert_eq!(usage.dynamodb_read_units, 0.5);
}

#[tokio::test]
async fn nothing_is_recorded_outside_a_measured_request() {
    let limiter = RateLimiter::new(table().await);
    limiter
        .hit("user:bob", "default", 10, 60, 1_800_000_000)
        .await
        .unwrap();
    let ((), usage) = measure(async {}).await;
    assert_eq!(usage.dynamodb_calls, 0);
}

#[tokio::test]
async fn a_metered_count_also_moves_the_ranking_index() {
    let meter = UsageMeter::new(table().await);
    let day = time::macros::date!(2026 - 12 - 01);
    meter
        .add(
            &aloft_store::UsageOwner::user("gus"),
            API_REQUESTS,
            day,
            1,
            Some("projects"),
        )
        .await
        .unwrap();
    let (added, usage) = measure(meter.add(
        &aloft_store::UsageOwner::user("gus"),
        API_REQUESTS,
        day,
        1,
        Some("projects"),
    ))
    .await;
    added.unwrap();
    // The item, plus the index entry keyed by the count: removed and written again.
    assert_eq!(usage.dynamodb_write_units, 3.0);
}
