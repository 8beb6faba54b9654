//! The sharded usage ranking against the local emulator: a month's users of one metric
//! spread over `RANKING_SHARDS` index partitions, and the top read as the merged tops of
//! every shard.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_store::{
    Table, UsageMeter, UsageOwner,
    usage::{AI_TOKENS, RANKING_SHARDS},
};
use aloft_testkit::TestEnv;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use time::macros::date;

/// How many rows the `ranking` index holds under `rank_pk`.
async fn rows(table: &Table, rank_pk: &str) -> i32 {
    table
        .client()
        .query()
        .table_name(table.name())
        .index_name("ranking")
        .key_condition_expression("rank_pk = :rank")
        .expression_attribute_values(":rank", AttributeValue::S(rank_pk.into()))
        .select(Select::Count)
        .send()
        .await
        .unwrap()
        .count
}

#[tokio::test]
async fn the_top_users_are_the_tops_of_every_shard_merged() {
    let env = TestEnv::new().await;
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    let meter = UsageMeter::new(table.clone());
    let day = date!(2026 - 05 - 10);
    for i in 1..=64_i64 {
        let owner = UsageOwner::user(&format!("rank-{i:02}"));
        meter
            .add(&owner, AI_TOKENS, day, i * 10, None)
            .await
            .unwrap();
    }

    let top = meter.top(AI_TOKENS, day, 3).await.unwrap();
    let ranked: Vec<(&str, i64)> = top
        .users
        .iter()
        .map(|r| (r.user_id.as_str(), r.value))
        .collect();
    assert_eq!(
        ranked,
        [("rank-64", 640), ("rank-63", 630), ("rank-62", 620)]
    );
    // At most 3 rows of each shard, fewer than the month's 64 users.
    let shards = i32::try_from(RANKING_SHARDS).unwrap();
    assert!(top.items_read <= 3 * shards, "{top:?}");
    assert!(top.items_read < 64, "{top:?}");

    // Every user is in one shard's partition, none in the unsharded one, and the users
    // are spread over the shards.
    let mut used = 0;
    let mut total = 0;
    for shard in 0..RANKING_SHARDS {
        let count = rows(&table, &format!("RANK#2026-05#ai_tokens#{shard:02}")).await;
        used += i32::from(count > 0);
        total += count;
    }
    assert_eq!(total, 64);
    assert!(used > 8, "64 users in {used} shards");
    assert_eq!(rows(&table, "RANK#2026-05#ai_tokens").await, 0);

    let all = meter.top(AI_TOKENS, day, 100).await.unwrap();
    assert_eq!(all.users.len(), 64);
    assert_eq!(all.items_read, 64);
    assert!(all.users.windows(2).all(|w| w[0].value > w[1].value));
}
