//! The project list against the local emulator: pages in key order, the count item kept
//! by create and delete, and reads bounded whatever the tenant's size, measured in the
//! capacity the emulator reports (run it as `infra/local/moto_capacity.py`, which charges
//! what DynamoDB charges, by item size).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{sync::Arc, time::Instant};

use aloft_core::{
    MAX_EXAMINED, Page, PageParams, PageRequest, Position, Slice, aws_usage::measure,
};
use aloft_store::{
    JobRecord, JobRepo, JobStatus, ProjectChange, ProjectListing, ProjectRecord, ProjectRepo,
    ProjectSort, StoreError, Table, TenantId, TransactWriteItem, UpdateOutcome,
};
use aloft_testkit::TestEnv;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

const BASE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

/// The `n`-th project: created `n` seconds after [`BASE`], its id a UUID v7 of that time
/// (as the projects function makes them).
fn project(n: usize) -> ProjectRecord {
    let at = BASE + n as i64;
    let created_at =
        aloft_core::timestamp::format(OffsetDateTime::from_unix_timestamp(at).unwrap());
    let mut random = [0_u8; 10];
    random[..8].copy_from_slice(&(n as u64).to_be_bytes());
    let id = uuid::Builder::from_unix_timestamp_millis(at as u64 * 1000, &random).into_uuid();
    ProjectRecord {
        id: id.to_string(),
        name: format!("Project {n:05}"),
        name_lower: format!("project {n:05}"),
        description: Some("A project of the bulk seed, about as long as a real one".into()),
        owner_id: "ann".into(),
        created_at: created_at.clone(),
        updated_at: created_at,
        deleted_at: None,
        version: 1,
    }
}

/// Writes projects `0..n` of `tenant` straight into the table (BatchWriteItem, 25 per
/// call, 16 calls at a time) and sets the count item as a backfill would.
async fn seed(table: &Table, tenant: &TenantId, n: usize) {
    let client = table.client().clone();
    let name: Arc<str> = table.name().into();
    let permits = Arc::new(Semaphore::new(16));
    let mut batches = tokio::task::JoinSet::new();
    let pk = format!("T#{}#PROJECT", tenant.as_str());
    for chunk in (0..n).collect::<Vec<_>>().chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|&i| {
                let record = project(i);
                let mut item: std::collections::HashMap<String, AttributeValue> =
                    serde_dynamo::to_item(&record).unwrap();
                item.insert("pk".into(), AttributeValue::S(pk.clone()));
                item.insert("sk".into(), AttributeValue::S(record.id.clone()));
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let (client, name, permits) = (client.clone(), name.clone(), permits.clone());
        batches.spawn(async move {
            let _permit = permits.acquire().await.unwrap();
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
    }
    while let Some(done) = batches.join_next().await {
        done.unwrap();
    }
    client
        .put_item()
        .table_name(table.name())
        .item(
            "pk",
            AttributeValue::S(format!("T#{}#COUNT", tenant.as_str())),
        )
        .item("sk", AttributeValue::S("PROJECT".into()))
        .item("item_count", AttributeValue::N(n.to_string()))
        .send()
        .await
        .unwrap();
}

fn request(query: PageParams, scope: &str) -> PageRequest {
    query.parse(scope).unwrap()
}

fn first(limit: u32) -> PageParams {
    PageParams {
        skip: 0,
        limit,
        cursor: None,
    }
}

fn newest() -> ProjectListing {
    ProjectListing {
        descending: true,
        ..ProjectListing::default()
    }
}

fn names(slice: &Slice<ProjectRecord>) -> Vec<&str> {
    slice.items.iter().map(|p| p.name.as_str()).collect()
}

/// The cursor the API hands out for a page that ended at `id`.
fn cursor_after(id: &str, scope_request: &PageRequest) -> String {
    let slice = Slice::<()> {
        items: Vec::new(),
        next: Some(Position::After(id.to_owned())),
        total: 0,
        total_exact: true,
        truncated: false,
    };
    Page::from_slice(slice, scope_request, |()| ())
        .next_cursor
        .unwrap()
}

#[tokio::test]
async fn twenty_thousand_projects_page_at_a_cost_that_does_not_grow_with_the_tenant() {
    const N: usize = 20_000;
    let table = table().await;
    let tenant = TenantId::new("big");
    let repo = ProjectRepo::new(table.clone());
    // Seeded in bulk: the emulator copies a whole table for every transaction (to roll
    // it back), so creates through the repository are counted in a smaller test.
    let started = Instant::now();
    seed(&table, &tenant, N).await;
    let seeded = started.elapsed();

    let scope = "projects:big";
    let page_one = request(first(20), scope);
    let (slice, first_usage) = measure(repo.list(&tenant, &newest(), &page_one)).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items.len(), 20);
    assert_eq!(slice.items[0].name, "Project 19999");
    assert_eq!(slice.items[19].name, "Project 19980");
    assert_eq!(
        (slice.total, slice.total_exact, slice.truncated),
        (N as u64, true, false)
    );
    assert!(slice.next.is_some());
    // 21 projects of ~280 bytes (6 KB, eventually consistent: 1 unit) and the count
    // item (0.5): reading the whole partition would be ~700 units.
    assert!(first_usage.dynamodb_read_units <= 2.0, "{first_usage:?}");
    assert_eq!(first_usage.dynamodb_calls, 2);

    // A middle page, by the cursor a client holds after project 10,000.
    let middle = project(10_000);
    let cursor = cursor_after(&middle.id, &page_one);
    let params = PageParams {
        cursor: Some(cursor),
        ..first(20)
    };
    let middle_request = request(params, scope);
    let (slice, middle_usage) = measure(repo.list(&tenant, &newest(), &middle_request)).await;
    let slice = slice.unwrap();
    assert_eq!(names(&slice)[0], "Project 09999");
    assert_eq!(names(&slice)[19], "Project 09980");
    assert!(middle_usage.dynamodb_read_units <= 2.0, "{middle_usage:?}");

    // The total alone: one read of the count item.
    let (total, total_usage) = measure(repo.count(&tenant)).await;
    assert_eq!(total.unwrap(), N as u64);
    assert_eq!(total_usage.dynamodb_read_units, 0.5);

    // A skip, a search and a sort the key order does not give: bounded, and said so.
    let far = request(
        PageParams {
            skip: 5_000,
            ..first(20)
        },
        scope,
    );
    let (slice, skip_usage) = measure(repo.list(&tenant, &newest(), &far)).await;
    let slice = slice.unwrap();
    assert!(slice.items.is_empty() && slice.truncated && slice.next.is_none());
    let search = ProjectListing {
        search: Some("project 0".into()),
        ..newest()
    };
    let (slice, search_usage) = measure(repo.list(&tenant, &search, &page_one)).await;
    let slice = slice.unwrap();
    // The 1,000 newest hold no "project 0…": nothing found, continue where it stopped.
    assert!(slice.items.is_empty() && slice.truncated && !slice.total_exact);
    assert!(slice.next.is_some());
    let by_name = ProjectListing {
        sort: ProjectSort::Name,
        ..ProjectListing::default()
    };
    let (slice, sort_usage) = measure(repo.list(&tenant, &by_name, &page_one)).await;
    let slice = slice.unwrap();
    assert_eq!(names(&slice)[0], format!("Project {:05}", N - MAX_EXAMINED));
    assert!(slice.truncated && slice.total_exact);
    // 1,000 items of ~280 bytes: ~35 units, whatever the partition holds. (Far more
    // than a page: the emulator charges by size, not its constant 1 unit per Query.)
    for usage in [skip_usage, search_usage, sort_usage] {
        assert!(usage.dynamodb_read_units <= 40.0, "{usage:?}");
        assert!(usage.dynamodb_read_units >= 10.0 * first_usage.dynamodb_read_units);
    }
    eprintln!(
        "20,000 projects seeded in {seeded:.1?}; read units: first page {}, middle page {}, \
         total {}, skip=5000 {}, search {}, sort=name {}",
        first_usage.dynamodb_read_units,
        middle_usage.dynamodb_read_units,
        total_usage.dynamodb_read_units,
        skip_usage.dynamodb_read_units,
        search_usage.dynamodb_read_units,
        sort_usage.dynamodb_read_units,
    );
}

#[tokio::test]
async fn walking_by_cursor_visits_every_project_once_in_either_order() {
    let table = table().await;
    let tenant = TenantId::new("t1");
    seed(&table, &tenant, 45).await;
    let repo = ProjectRepo::new(table);
    for descending in [true, false] {
        let listing = ProjectListing {
            descending,
            ..ProjectListing::default()
        };
        let scope = format!("projects:t1:{descending}");
        let mut seen = Vec::new();
        let mut params = first(20);
        loop {
            let page_request = request(params.clone(), &scope);
            let slice = repo.list(&tenant, &listing, &page_request).await.unwrap();
            assert_eq!(slice.total, 45);
            seen.extend(slice.items.iter().map(|p| p.name.clone()));
            let page = Page::from_slice(slice, &page_request, |p| p);
            let Some(cursor) = page.next_cursor else {
                break;
            };
            params.cursor = Some(cursor);
        }
        let mut expected: Vec<String> = (0..45).map(|i| project(i).name).collect();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected);
    }
}

/// The announcements a test's changes staged: a job record per event (the outbox), by
/// id, with the version of the project each announced.
struct Events {
    jobs: JobRepo,
    staged: Vec<(String, u64)>,
}

impl Events {
    fn new(table: &Table) -> Self {
        Self {
            jobs: JobRepo::new(table.clone()),
            staged: Vec::new(),
        }
    }

    fn write(&mut self, project: &ProjectRecord) -> Result<Vec<TransactWriteItem>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = "2026-02-01T00:00:00Z".to_owned();
        let job = JobRecord {
            id: id.clone(),
            kind: "event.fanout".into(),
            queue: "jobs".into(),
            payload: serde_json::json!({ "version": project.version }).to_string(),
            status: JobStatus::Queued,
            attempts: 0,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
            finished_at: None,
            user_id: None,
            trace_id: None,
        };
        self.staged.push((id, project.version));
        self.jobs.create_write(&job)
    }

    /// The versions announced by events that exist: only changes that happened.
    async fn stored(&self) -> Vec<u64> {
        let mut versions = Vec::new();
        for (id, version) in &self.staged {
            if self.jobs.get(id).await.unwrap().is_some() {
                versions.push(*version);
            }
        }
        versions
    }
}

#[tokio::test]
async fn the_count_follows_creates_and_deletes_and_a_deleted_project_leaves_the_list() {
    let table = table().await;
    let tenant = TenantId::new("t1");
    let repo = ProjectRepo::new(table.clone());
    let mut events = Events::new(&table);
    for i in 0..3 {
        let project = project(i);
        repo.create(&tenant, &project, &mut |p| events.write(p))
            .await
            .unwrap();
    }
    // The same project again is refused: not counted, not announced.
    let again = repo
        .create(&tenant, &project(0), &mut |p| events.write(p))
        .await;
    assert!(again.is_err());
    let gone = project(1);
    let deleted = repo
        .soft_delete(&tenant, &gone.id, "2026-02-01T00:00:00Z", &mut |p| {
            events.write(p)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.deleted_at.as_deref(), Some("2026-02-01T00:00:00Z"));
    assert_eq!(deleted.version, 2);
    // Deleting again (a retry) finds nothing: counts and announces nothing.
    let again = repo
        .soft_delete(&tenant, &gone.id, "2026-02-01T00:00:01Z", &mut |p| {
            events.write(p)
        })
        .await;
    assert!(again.unwrap().is_none());
    // Three creates and one delete happened, and were announced; the rest was not.
    assert_eq!(events.stored().await, [1, 1, 1, 2]);
    // An update announces the project as it leaves it; one at a stale version neither
    // happens nor is announced.
    let kept = project(2);
    let change = ProjectChange {
        name: Some("Renamed".into()),
        description: None,
    };
    let outcome = repo
        .update(
            &tenant,
            &kept.id,
            &change,
            Some(1),
            "2026-02-02T00:00:00Z",
            &mut |p| events.write(p),
        )
        .await
        .unwrap();
    let UpdateOutcome::Updated(updated) = outcome else {
        panic!("not updated: {outcome:?}");
    };
    assert_eq!(
        (
            updated.name.as_str(),
            updated.name_lower.as_str(),
            updated.version
        ),
        ("Renamed", "renamed", 2)
    );
    let stale = repo
        .update(
            &tenant,
            &kept.id,
            &change,
            Some(1),
            "2026-02-02T00:00:01Z",
            &mut |p| events.write(p),
        )
        .await
        .unwrap();
    assert!(matches!(stale, UpdateOutcome::VersionMismatch), "{stale:?}");
    assert_eq!(events.stored().await, [1, 1, 1, 2, 2]);
    let renamed = repo.get(&tenant, &kept.id).await.unwrap().unwrap();
    assert_eq!(renamed, updated);
    assert!(repo.get(&tenant, &gone.id).await.unwrap().is_none());
    let slice = repo
        .list(&tenant, &newest(), &request(first(20), "p"))
        .await
        .unwrap();
    assert_eq!(names(&slice), ["Renamed", "Project 00000"]);
    assert_eq!(slice.total, 2);
    assert_eq!(repo.count(&TenantId::new("other")).await.unwrap(), 0);
}

#[tokio::test]
async fn a_search_counts_every_match_when_it_saw_every_project() {
    let table = table().await;
    let tenant = TenantId::new("t1");
    seed(&table, &tenant, 30).await;
    let repo = ProjectRepo::new(table);
    let search = ProjectListing {
        search: Some("project 0001".into()),
        ..newest()
    };
    let slice = repo
        .list(&tenant, &search, &request(first(4), "p"))
        .await
        .unwrap();
    assert_eq!(
        names(&slice),
        [
            "Project 00019",
            "Project 00018",
            "Project 00017",
            "Project 00016"
        ]
    );
    assert_eq!(
        (slice.total, slice.total_exact, slice.truncated),
        (10, true, false)
    );
    assert!(slice.next.is_some());
}
