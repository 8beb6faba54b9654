//! A month's ranking of users by one metric, sharded: a user's month item carries
//! `rank_pk` `RANK#<yyyy-mm>#<metric>#<shard>`, the shard a stable hash of the user id
//! modulo [`RANKING_SHARDS`]. One index partition per metric and month would take every
//! metered write of that metric (DynamoDB throttles a partition past ~1,000 writes a
//! second); sixteen spread them. The top `limit` users are the top of the shards' tops:
//! each shard's `limit` highest, read at once, merged.
//!
//! Items written before sharding carry `RANK#<yyyy-mm>#<metric>` and are not read: a
//! user's next count of the month moves their item (whole month total included) into
//! its shard.

use std::{pin::Pin, task::Poll};

use time::Date;

use super::{Metric, UsageMeter, month_key};
use crate::{StoreError, table::s};

/// How many partitions one metric's month ranking is spread over. Changing it moves
/// every user to another partition: rankings then start anew, as on a month's first day.
pub const RANKING_SHARDS: u32 = 16;

/// A user's place in a month's ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub user_id: String,
    pub value: i64,
}

/// The top of a ranking, and how many index rows the queries read to find it (at most
/// [`RANKING_SHARDS`] times the number asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    pub users: Vec<Ranked>,
    pub items_read: i32,
}

/// The ranking partition of `user_id`'s `metric` in `month` (`YYYY-MM`).
pub(crate) fn ranking_key(metric: Metric, month: &str, user_id: &str) -> String {
    shard_key(metric, month, shard(user_id))
}

fn shard_key(metric: Metric, month: &str, shard: u32) -> String {
    format!("RANK#{month}#{}#{shard:02}", metric.key)
}

/// FNV-1a of the id: the same shard for a user in every process and every build (the
/// standard library's hasher promises neither).
fn shard(user_id: &str) -> u32 {
    let hash = user_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % RANKING_SHARDS
}

impl UsageMeter {
    /// The `limit` users with the most `metric` in `month`, highest first (equal totals
    /// by user id): each shard's `limit` highest, queried at once, merged. It reads at
    /// most `limit` rows per shard, however many users there are.
    pub async fn top(
        &self,
        metric: Metric,
        month: Date,
        limit: i32,
    ) -> Result<Ranking, StoreError> {
        let month = month_key(month);
        let shards =
            (0..RANKING_SHARDS).map(|shard| self.top_of(shard_key(metric, &month, shard), limit));
        let mut ranking = Ranking {
            users: Vec::new(),
            items_read: 0,
        };
        for shard in all(shards.collect()).await {
            let (users, items_read) = shard?;
            ranking.users.extend(users);
            ranking.items_read += items_read;
        }
        ranking.users.sort_by(|a, b| {
            b.value
                .cmp(&a.value)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        ranking.users.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(ranking)
    }

    /// The `limit` highest of one shard, and the rows read.
    async fn top_of(&self, rank: String, limit: i32) -> Result<(Vec<Ranked>, i32), StoreError> {
        let output = self
            .table
            .client()
            .query()
            .table_name(self.table.name())
            .index_name("ranking")
            .key_condition_expression("rank_pk = :rank")
            .expression_attribute_values(":rank", s(rank))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let users = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let user_id = item.get("pk")?.as_s().ok()?.strip_prefix("USAGE#")?;
                let value = item.get("count")?.as_n().ok()?.parse().ok()?;
                Some(Ranked {
                    user_id: user_id.to_owned(),
                    value,
                })
            })
            .collect();
        Ok((users, output.scanned_count))
    }
}

/// Runs `futures` at once in this task, their outputs in order. (Not `tokio::spawn`: the
/// request's AWS usage is measured per task, and the shards' reads are the request's.)
async fn all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::AI_TOKENS;

    #[test]
    fn a_user_keeps_their_shard_and_users_spread_over_all() {
        assert_eq!(shard("ann"), shard("ann"));
        assert_eq!(
            ranking_key(AI_TOKENS, "2026-03", "ann"),
            format!("RANK#2026-03#ai_tokens#{:02}", shard("ann"))
        );
        let used: std::collections::BTreeSet<u32> =
            (0..1_000).map(|i| shard(&format!("user-{i}"))).collect();
        assert_eq!(used.len(), RANKING_SHARDS as usize);
    }

    #[test]
    fn the_hash_is_fnv_1a() {
        // The published FNV-1a 32-bit values of "" and "a": a shard never moves with a
        // new build.
        assert_eq!(shard(""), 0x811c_9dc5 % RANKING_SHARDS);
        assert_eq!(shard("a"), 0xe40c_292c % RANKING_SHARDS);
    }
}
