//! The admin user directory at 1,000 users and at 100,000: a directory page and a search
//! page cost the same read capacity at both sizes, as the emulator reports it (run as
//! `infra/local/moto_capacity.py`, which charges what DynamoDB charges, by item size).
//!
//! Ignored by default: it seeds 300,000 items (about 90 s) into an emulator of its own,
//! so other tests do not wait behind it. `make scale-test` runs it
//! (`cargo test -p aloft-store --test lists_at_scale -- --ignored`).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{collections::HashMap, sync::Arc, time::Instant};

use aloft_core::{PageParams, PageRequest, aws_usage::measure};
use aloft_store::{Table, UserRecord, UserRepo};
use aloft_testkit::{PrivateEmulator, TestEnv, user_record};
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, PutRequest, WriteRequest},
};
use time::OffsetDateTime;
use tokio::{sync::Semaphore, task::JoinSet};

const BASE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// The `i`-th user: registered `i` seconds after [`BASE`], every field of the same
/// length at any `i`, so a page of any users weighs the same.
fn scaled_user(i: usize) -> UserRecord {
    let at = BASE + i64::try_from(i).unwrap();
    let created_at =
        aloft_core::timestamp::format(OffsetDateTime::from_unix_timestamp(at).unwrap());
    let mut user = user_record(&uuid::Uuid::from_u128(i as u128 + 1).to_string());
    user.email = format!("user{i:06}@scale.example");
    user.full_name = Some("Ann".into());
    user.created_at = created_at.clone();
    user.updated_at = created_at;
    user
}

type Item = HashMap<String, AttributeValue>;

/// Writes users `range` straight into the table as [`UserRepo::create`] writes them
/// (BatchWriteItem, 25 per call, 16 calls at a time), except their email links, which
/// no list reads (a quarter of the seeding time); then sets the directory's counter as
/// the dashboard keeps it.
async fn seed(table: &Table, range: std::ops::Range<usize>) {
    let total = range.end;
    let mut writer = BatchWriter::new(table);
    let mut buffer: Vec<Item> = Vec::new();
    for i in range {
        let items = UserRepo::created_items(&scaled_user(i)).unwrap();
        let listed = items
            .into_iter()
            .filter(|item| !item["pk"].as_s().unwrap().starts_with("EMAIL#"));
        buffer.extend(listed);
        if buffer.len() >= 25 {
            writer.send(buffer.drain(..25).collect()).await;
        }
    }
    if !buffer.is_empty() {
        writer.send(buffer).await;
    }
    writer.finish().await;
    table
        .client()
        .put_item()
        .table_name(table.name())
        .item("pk", AttributeValue::S("STATS".into()))
        .item("sk", AttributeValue::S("TOTALS".into()))
        .item("users_total", AttributeValue::N(total.to_string()))
        .send()
        .await
        .unwrap();
}

/// Batch writes, 16 at a time; a batch waits for a free slot before it is made, so the
/// seed never holds more than 16 batches.
struct BatchWriter {
    client: Client,
    name: Arc<str>,
    permits: Arc<Semaphore>,
    batches: JoinSet<()>,
}

impl BatchWriter {
    fn new(table: &Table) -> Self {
        Self {
            client: table.client().clone(),
            name: table.name().into(),
            permits: Arc::new(Semaphore::new(16)),
            batches: JoinSet::new(),
        }
    }

    async fn send(&mut self, items: Vec<Item>) {
        let permit = self.permits.clone().acquire_owned().await.unwrap();
        let (client, name) = (self.client.clone(), self.name.clone());
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        self.batches.spawn(async move {
            let _permit = permit;
            let mut pending = requests;
            let mut attempts = 0;
            while !pending.is_empty() {
                let sent = client
                    .batch_write_item()
                    .request_items(name.to_string(), pending.clone())
                    .send()
                    .await;
                // Puts are idempotent: a batch the busy emulator timed out is sent again.
                let output = match sent {
                    Err(e) if attempts < 5 => {
                        attempts += 1;
                        eprintln!("seed batch sent again: {e}");
                        continue;
                    }
                    sent => sent.unwrap(),
                };
                pending = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(name.as_ref()))
                    .unwrap_or_default();
            }
        });
        // Finished batches are collected as they go: a failed one fails the seed now.
        while let Some(done) = self.batches.try_join_next() {
            done.unwrap();
        }
    }

    async fn finish(mut self) {
        while let Some(done) = self.batches.join_next().await {
            done.unwrap();
        }
    }
}

fn first_page(scope: &str) -> PageRequest {
    PageParams {
        skip: 0,
        limit: 20,
        cursor: None,
    }
    .parse(scope)
    .unwrap()
}

/// Read units of one page of each list, with what the page shows checked.
#[derive(Debug, PartialEq)]
struct Costs {
    directory: f64,
    by_email: f64,
    by_name: f64,
}

async fn costs(users: &UserRepo, n: usize) -> Costs {
    let everyone = |_: &UserRecord| true;
    let request = first_page("users");
    let (slice, directory) =
        measure(users.directory(&request, everyone, Some("users_total"))).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items.len(), 20);
    assert_eq!(
        slice.items[0].email,
        scaled_user(n - 1).email,
        "newest first"
    );
    assert_eq!((slice.total, slice.total_exact), (n as u64, true));

    let request = first_page("users:user00");
    let (slice, by_email) = measure(users.search(&request, "user00", everyone)).await;
    let slice = slice.unwrap();
    let emails: Vec<&str> = slice.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails.len(), 20);
    assert_eq!(emails[0], "user000000@scale.example", "in email order");
    assert_eq!(emails[19], "user000019@scale.example");
    assert!(slice.next.is_some() && !slice.truncated);
    assert_eq!((slice.total, slice.total_exact), (21, false));

    let request = first_page("users:ann");
    let (slice, by_name) = measure(users.search(&request, "ann", everyone)).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items.len(), 20);
    assert!(slice.next.is_some() && !slice.truncated);

    Costs {
        directory: directory.dynamodb_read_units,
        by_email: by_email.dynamodb_read_units,
        by_name: by_name.dynamodb_read_units,
    }
}

#[tokio::test]
#[ignore = "seeds 100,000 users into an emulator of its own (about 90 s): make scale-test"]
async fn a_directory_page_and_a_search_page_cost_the_same_at_a_hundred_thousand_users() {
    let mut emulator = PrivateEmulator::start().await;
    let env = TestEnv::on(&emulator.url).await;
    // moto answers a query of an index by scanning the whole table: at 300,000 items
    // that is seconds, past the SDK's 5 s (DynamoDB reads only the partition).
    let patient = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(120))
        .operation_attempt_timeout(std::time::Duration::from_secs(120))
        .build();
    // The functions' client (its capacity interceptor measures the pages), more patient.
    let config = (env.clients.dynamodb.config().to_builder())
        .timeout_config(patient)
        .build();
    let table = Table::new(Client::from_conf(config), env.table());
    let users = UserRepo::new(table.clone());

    let started = Instant::now();
    seed(&table, 0..1_000).await;
    let small = costs(&users, 1_000).await;
    seed(&table, 1_000..100_000).await;
    let seeded = started.elapsed();
    let large = costs(&users, 100_000).await;

    // Measured at all (a client without the capacity interceptor reports 0).
    assert!(small.directory > 0.0 && small.by_email > 0.0, "{small:?}");
    // Every page weighs the same at both sizes, so it costs the same.
    assert_eq!(small, large);
    // 21 profiles of ~390 bytes (8 KB, eventually consistent: 1 or 1.5 units) and the
    // counter (0.5): a whole directory partition at 100,000 would be ~4,800 units.
    assert!(large.directory <= 2.0, "{large:?}");
    // 21 entries of ~130 bytes (0.5), then the page's 21 users in one BatchGetItem:
    // the emulator reports one unit per key (21); DynamoDB charges 0.5 per user of
    // under 4 KB read eventually consistent (10.5).
    assert!(large.by_email <= 22.0, "{large:?}");
    assert!(large.by_name <= 22.0, "{large:?}");

    // A search no entry begins with still scans, bounded, and says so.
    let request = first_page("users:000123@");
    let (slice, scan) = measure(users.search(&request, "000123@", |_| true)).await;
    let slice = slice.unwrap();
    assert!(
        slice.items.is_empty(),
        "the 1,000 newest hold no user000123"
    );
    assert!(slice.truncated && !slice.total_exact && slice.next.is_some());
    // 1,000 profiles of ~390 bytes: ~48 units, whatever the directory holds.
    assert!(scan.dynamodb_read_units <= 60.0, "{scan:?}");

    eprintln!(
        "100,000 users seeded in {seeded:.1?}; read units at 1,000 / 100,000 users: \
         directory page {} / {}, search by email {} / {}, search by name {} / {}; \
         a search that scans: {}",
        small.directory,
        large.directory,
        small.by_email,
        large.by_email,
        small.by_name,
        large.by_name,
        scan.dynamodb_read_units,
    );
    emulator.stop().await;
}
