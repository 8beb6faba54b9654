//! The other paged lists against the local emulator (run as
//! `infra/local/moto_capacity.py`, which reports capacity by item size): jobs by status,
//! webhook deliveries, files, the admin directory, and the API-key cap.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::collections::HashMap;

use aloft_core::{Page, PageParams, PageRequest, Slice, aws_usage::measure};
use aloft_store::{
    AdminChange, ApiKeyRecord, ApiKeyRepo, BillingChange, Confirmation, CreateApiKeyOutcome,
    DeliveryAttempt, DeliveryRecord, FileRecord, FileRepo, JobRepo, JobStatus, MAX_API_KEYS,
    StorageQuota, StoreError, Stored, Table, TenantId, TransactWriteItem, UserRepo, WebhookRepo,
};
use aloft_testkit::{TestEnv, user_record};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

type Item = HashMap<String, AttributeValue>;

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Writes `items` straight into the table, 25 per BatchWriteItem.
async fn seed(table: &Table, items: Vec<Item>) {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let output = table
                .client()
                .batch_write_item()
                .request_items(table.name(), pending)
                .send()
                .await
                .unwrap();
            pending = output
                .unprocessed_items
                .and_then(|mut u| u.remove(table.name()))
                .unwrap_or_default();
        }
    }
}

/// A job item as the job store writes it, created `second` seconds into 2026.
fn job(id: &str, status: JobStatus, second: u32) -> Item {
    let at = format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    );
    Item::from([
        ("pk".into(), s(format!("JOB#{id}"))),
        ("sk".into(), s("JOB")),
        ("gsi1pk".into(), s(format!("JOBS#{}", status.as_str()))),
        ("gsi1sk".into(), s(format!("{at}#{id}"))),
        ("id".into(), s(id)),
        ("kind".into(), s("email.send")),
        ("queue".into(), s("jobs")),
        ("payload".into(), s(r#"{"to":"ann@example.com"}"#)),
        ("status".into(), s(status.as_str())),
        ("attempts".into(), n(1)),
        ("created_at".into(), s(&at)),
        ("updated_at".into(), s(&at)),
    ])
}

fn queued_counter(count: u32) -> Item {
    Item::from([
        ("pk".into(), s("STATS")),
        ("sk".into(), s("TOTALS")),
        ("jobs_queued".into(), n(count)),
    ])
}

fn page(limit: u32, cursor: Option<String>, scope: &str) -> PageRequest {
    PageParams {
        skip: 0,
        limit,
        cursor,
    }
    .parse(scope)
    .unwrap()
}

/// Every item of a list, walked page by page with the cursors the API hands out.
async fn walk<T, F>(limit: u32, scope: &str, mut read: impl FnMut(PageRequest) -> F) -> Vec<T>
where
    F: Future<Output = Slice<T>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let request = page(limit, cursor, scope);
        let slice = read(request.clone()).await;
        let next = Page::from_slice(slice, &request, |item| all.push(item)).next_cursor;
        match next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn a_status_page_reads_that_status_only_and_counts_at_most_the_bound() {
    let table = table().await;
    let mut items: Vec<Item> = (0..1_100)
        .map(|i| job(&format!("s{i:04}"), JobStatus::Succeeded, i))
        .collect();
    items.extend((0..5).map(|i| job(&format!("d{i}"), JobStatus::Dead, i)));
    items.extend((0..3).map(|i| job(&format!("q{i}"), JobStatus::Queued, i)));
    items.push(queued_counter(3));
    seed(&table, items).await;
    let jobs = JobRepo::new(table);

    let request = page(20, None, "jobs:succeeded");
    let (slice, usage) = measure(jobs.page(Some(JobStatus::Succeeded), &request)).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items.len(), 20);
    assert_eq!(slice.items[0].id, "s1099");
    assert!(slice.items.iter().all(|j| j.status == JobStatus::Succeeded));
    assert_eq!((slice.total, slice.total_exact), (1_000, false));
    assert!(slice.next.is_some());
    // 21 jobs for the page, and 1,001 counted (~290 bytes each): not the 1,100.
    assert!(usage.dynamodb_read_units <= 40.0, "{usage:?}");

    let dead = page(20, None, "jobs:dead");
    let (slice, usage) = measure(jobs.page(Some(JobStatus::Dead), &dead)).await;
    let slice = slice.unwrap();
    let ids: Vec<&str> = slice.items.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["d4", "d3", "d2", "d1", "d0"]);
    assert_eq!(
        (slice.total, slice.total_exact, slice.next),
        (5, true, None)
    );
    assert!(usage.dynamodb_read_units <= 1.0, "{usage:?}");

    let queued = page(2, None, "jobs:queued");
    let slice = jobs.page(Some(JobStatus::Queued), &queued).await.unwrap();
    assert_eq!((slice.total, slice.items.len()), (3, 2));
}

#[tokio::test]
async fn every_status_pages_newest_first_by_cursor() {
    let table = table().await;
    let statuses = JobStatus::ALL;
    let mut items: Vec<Item> = (0..23)
        .map(|i| job(&format!("j{i:02}"), statuses[i as usize % 5], i))
        .collect();
    items.push(queued_counter(5));
    seed(&table, items).await;
    let jobs = JobRepo::new(table);
    let listed = walk(4, "jobs:all", |request| {
        let jobs = jobs.clone();
        async move { jobs.page(None, &request).await.unwrap() }
    })
    .await;
    let ids: Vec<String> = listed.into_iter().map(|j| j.id).collect();
    let expected: Vec<String> = (0..23).rev().map(|i| format!("j{i:02}")).collect();
    assert_eq!(ids, expected);
    let slice = jobs.page(None, &page(4, None, "jobs:all")).await.unwrap();
    assert_eq!((slice.total, slice.total_exact), (23, true));
}

fn delivery(id: &str, second: u32) -> DeliveryRecord {
    let at = format!("2026-01-01T00:{:02}:{:02}Z", second / 60, second % 60);
    DeliveryRecord {
        created_at: at.clone(),
        updated_at: at,
        ..aloft_testkit::delivery_record(id)
    }
}

#[tokio::test]
async fn a_delivery_status_filter_reads_only_that_status_newest_first() {
    let table = table().await;
    let webhooks = WebhookRepo::new(table);
    let tenant = TenantId::new("t1");
    for i in 0..12 {
        let record = delivery(&format!("d{i:02}"), i);
        webhooks.create_delivery(&tenant, &record).await.unwrap();
    }
    for (i, status) in [(2, "dead"), (5, "succeeded"), (7, "dead"), (9, "failed")] {
        let attempt = DeliveryAttempt {
            status,
            attempt: 1,
            response_status: Some(500),
            error: None,
            now: "2026-01-01T01:00:00Z",
        };
        let id = format!("d{i:02}");
        webhooks
            .record_attempt(&tenant, "s1", &id, &attempt)
            .await
            .unwrap();
    }
    let read = |status: Option<&'static str>, limit| {
        let webhooks = webhooks.clone();
        let tenant = tenant.clone();
        async move {
            let request = page(limit, None, "deliveries");
            measure(async move {
                webhooks
                    .deliveries(&tenant, "s1", status, &request)
                    .await
                    .unwrap()
            })
            .await
        }
    };
    let (dead, usage) = read(Some("dead"), 20).await;
    let ids: Vec<&str> = dead.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d07", "d02"]);
    assert_eq!((dead.total, dead.total_exact, dead.next), (2, true, None));
    // Two dead deliveries read (and counted), not the other ten.
    assert!(usage.dynamodb_read_units <= 1.0, "{usage:?}");
    let (pending, _) = read(Some("pending"), 3).await;
    let ids: Vec<&str> = pending.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d11", "d10", "d08"]);
    assert_eq!(pending.total, 8);
    let all = walk(5, "deliveries:all", |request| {
        let webhooks = webhooks.clone();
        let tenant = tenant.clone();
        async move {
            webhooks
                .deliveries(&tenant, "s1", None, &request)
                .await
                .unwrap()
        }
    })
    .await;
    let ids: Vec<String> = all.into_iter().map(|d| d.id).collect();
    let expected: Vec<String> = (0..12).rev().map(|i| format!("d{i:02}")).collect();
    assert_eq!(ids, expected);
}

fn file(i: u32) -> FileRecord {
    FileRecord {
        // Time-ordered like the UUID v7 ids the files function makes.
        id: format!("0190-{i:04}"),
        owner_id: "ann".into(),
        filename: format!("f{i}.txt"),
        content_type: "text/plain".into(),
        size: 10,
        key: format!("uploads/ann/{i}/f{i}.txt"),
        status: "pending".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: Some(1_900_000_000),
    }
}

const UNLIMITED: StorageQuota = StorageQuota { files: 0, bytes: 0 };

fn no_more(_: &FileRecord) -> Result<Vec<TransactWriteItem>, StoreError> {
    Ok(Vec::new())
}

#[tokio::test]
async fn files_list_only_uploads_newest_first_and_their_count_follows_confirm_and_delete() {
    let table = table().await;
    let files = FileRepo::new(table);
    let tenant = TenantId::new("t1");
    for i in 0..6 {
        files
            .create(&tenant, &file(i), 1_900_000_000)
            .await
            .unwrap();
    }
    for i in [1, 3, 4] {
        let marked = files.mark_uploaded(&tenant, file(i), UNLIMITED, Vec::new());
        let Confirmation::Marked(record) = marked.await.unwrap() else {
            panic!("not marked");
        };
        assert!(record.status == "uploaded" && record.expires_at.is_none());
    }
    // A second confirmation (a retry, with the record as it read it) is not a second upload.
    let again = files.mark_uploaded(&tenant, file(3), UNLIMITED, Vec::new());
    assert!(matches!(again.await.unwrap(), Confirmation::Already(_)));
    assert_eq!(
        files.stored(&tenant).await.unwrap(),
        Stored {
            files: 3,
            bytes: 30
        }
    );
    // Deleting an upload uncounts it; deleting a pending one, or twice, changes nothing.
    let delete = |id: String| {
        let files = files.clone();
        let tenant = tenant.clone();
        async move { files.delete(&tenant, &id, &mut no_more).await.unwrap() }
    };
    assert!(delete(file(4).id).await.is_some());
    assert!(delete(file(4).id).await.is_none());
    assert!(delete(file(5).id).await.is_some());
    assert_eq!(
        files.stored(&tenant).await.unwrap(),
        Stored {
            files: 2,
            bytes: 20
        }
    );
    let request = page(1, None, "files");
    let (slice, usage) = measure(files.page(&tenant, &request)).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items[0].id, file(3).id);
    assert_eq!((slice.total, slice.total_exact), (2, true));
    // The count, and two Queries: the pending upload in the way asks for one more item.
    assert!(usage.dynamodb_read_units <= 1.5, "{usage:?}");
    let all = walk(1, "files", |request| {
        let files = files.clone();
        let tenant = tenant.clone();
        async move { files.page(&tenant, &request).await.unwrap() }
    })
    .await;
    let ids: Vec<String> = all.into_iter().map(|f| f.id).collect();
    assert_eq!(ids, [file(3).id, file(1).id]);
}

#[tokio::test]
async fn the_directory_pages_by_counter_or_counts_the_matches_it_examined() {
    let table = table().await;
    let users = UserRepo::new(table);
    for i in 0..25 {
        let mut user = user_record(&format!("u{i:02}"));
        user.created_at = format!("2026-01-01T00:00:{i:02}Z");
        user.is_active = i % 5 != 0;
        users.create(&user).await.unwrap();
    }
    let request = page(10, None, "users");
    let everyone = |_: &aloft_store::UserRecord| true;
    let (slice, usage) = measure(users.directory(&request, everyone, Some("users_total"))).await;
    let slice = slice.unwrap();
    assert_eq!(slice.items[0].id, "u24");
    assert_eq!(
        (slice.items.len(), slice.total, slice.total_exact),
        (10, 25, true)
    );
    // 11 profiles and the totals item.
    assert!(usage.dynamodb_read_units <= 1.5, "{usage:?}");
    let inactive = |user: &aloft_store::UserRecord| !user.is_active;
    let slice = users.directory(&request, inactive, None).await.unwrap();
    let ids: Vec<&str> = slice.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u20", "u15", "u10", "u05", "u00"]);
    assert_eq!(
        (slice.total, slice.total_exact, slice.next),
        (5, true, None)
    );
}

#[tokio::test]
async fn a_user_holds_at_most_the_capped_number_of_api_keys() {
    let table = table().await;
    UserRepo::new(table.clone())
        .create(&user_record("ann"))
        .await
        .unwrap();
    let keys = ApiKeyRepo::new(table);
    let key = |i: u32| api_key(&format!("k{i:03}"), "ann");
    for i in 0..MAX_API_KEYS {
        let outcome = keys.create(&key(i)).await.unwrap();
        assert_eq!(outcome, CreateApiKeyOutcome::Created);
    }
    let one_more = keys.create(&key(MAX_API_KEYS)).await.unwrap();
    assert_eq!(one_more, CreateApiKeyOutcome::Full);
    assert!(!keys.delete_owned("k000", "bob").await.unwrap());
    assert!(keys.delete_owned("k000", "ann").await.unwrap());
    assert!(!keys.delete_owned("k000", "ann").await.unwrap());
    let again = keys.create(&key(MAX_API_KEYS)).await.unwrap();
    assert_eq!(again, CreateApiKeyOutcome::Created);
    assert_eq!(
        keys.list_for_user("ann").await.unwrap().len(),
        MAX_API_KEYS as usize
    );
}

fn api_key(id: &str, owner: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        user_id: owner.into(),
        tenant_id: format!("tenant-{owner}"),
        member_role: None,
        role: "user".into(),
        plan: "free".into(),
        scopes: vec!["read".into(), "write".into()],
        expires_at: None,
        last_used_at: None,
        name: format!("key {id}"),
        prefix: "ak_live_abcd".into(),
        secret_hash: "0".repeat(64),
        created_at: "2026-01-01T00:00:00Z".into(),
        disabled: false,
    }
}

#[tokio::test]
async fn keys_follow_their_owners_role_plan_and_activity() {
    let table = table().await;
    let users = UserRepo::new(table.clone());
    let keys = ApiKeyRepo::new(table);
    let mut ann = user_record("kf-ann");
    ann.role = "admin".into();
    users.create(&ann).await.unwrap();

    // A key copied from a stale read of its owner is refused.
    let mut stale = api_key("kf-stale", "kf-ann");
    stale.role = "user".into();
    assert_eq!(
        keys.create(&stale).await.unwrap(),
        CreateApiKeyOutcome::OwnerChanged
    );
    let mut key = api_key("kf-1", "kf-ann");
    key.role = "admin".into();
    assert_eq!(
        keys.create(&key).await.unwrap(),
        CreateApiKeyOutcome::Created
    );

    let demote = AdminChange {
        role: Some("user".into()),
        plan: Some("pro".into()),
        ..AdminChange::default()
    };
    let after = users
        .admin_update(&ann, &demote, "2026-02-01T00:00:00Z")
        .await
        .unwrap();
    let copied = keys.get("kf-1").await.unwrap().unwrap();
    assert_eq!(
        (copied.role.as_str(), copied.plan.as_str()),
        ("user", "pro")
    );
    assert!(!copied.disabled);

    let deactivate = AdminChange {
        is_active: Some(false),
        ..AdminChange::default()
    };
    let deactivated = users
        .admin_update(&after, &deactivate, "2026-02-02T00:00:00Z")
        .await
        .unwrap();
    assert!(keys.get("kf-1").await.unwrap().unwrap().disabled);

    // A copy that failed after the user's write (here: undone behind the repository's
    // back) is finished by a retry of the same change, which finds the record changed.
    keys.follow_owner(aloft_store::KeyOwner {
        user_id: "kf-ann",
        role: "admin",
        plan: "pro",
        is_active: true,
    })
    .await
    .unwrap();
    users
        .admin_update(&deactivated, &deactivate, "2026-02-02T00:00:01Z")
        .await
        .unwrap();
    let copied = keys.get("kf-1").await.unwrap().unwrap();
    assert_eq!((copied.role.as_str(), copied.disabled), ("user", true));

    // A plan from a billing event reaches the key too (activity stays as the user's).
    let billing = BillingChange {
        plan: Some("enterprise".into()),
        ..BillingChange::default()
    };
    users
        .apply_billing("kf-ann", &billing, 100, "2026-02-03T00:00:00Z")
        .await
        .unwrap();
    let copied = keys.get("kf-1").await.unwrap().unwrap();
    assert_eq!(copied.plan, "enterprise");
    assert!(copied.disabled);
}

#[tokio::test]
async fn a_key_notes_its_last_minute_of_use_once() {
    let table = table().await;
    UserRepo::new(table.clone())
        .create(&user_record("lu-ann"))
        .await
        .unwrap();
    let keys = ApiKeyRepo::new(table);
    keys.create(&api_key("lu-1", "lu-ann")).await.unwrap();
    keys.touch("lu-1", "2026-03-01T10:05:00Z").await.unwrap();
    keys.touch("lu-1", "2026-03-01T10:04:00Z").await.unwrap();
    let noted = keys.get("lu-1").await.unwrap().unwrap().last_used_at;
    assert_eq!(
        noted.as_deref(),
        Some("2026-03-01T10:05:00Z"),
        "never moves back"
    );
    keys.touch("missing", "2026-03-01T10:05:00Z").await.unwrap();
    assert!(
        keys.get("missing").await.unwrap().is_none(),
        "no item made up"
    );
}

#[tokio::test]
async fn a_batch_read_reads_a_key_named_twice_once() {
    let users = UserRepo::new(table().await);
    users.create(&user_record("twice-ann")).await.unwrap();
    users.create(&user_record("twice-bob")).await.unwrap();
    let mut read = users
        .get_many(&["twice-ann", "twice-bob", "twice-ann", "nobody"])
        .await
        .unwrap();
    read.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = read.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["twice-ann", "twice-bob"]);
}

/// The quota holds under racing confirmations: it is the confirmation's own condition.
#[tokio::test]
async fn concurrent_confirmations_never_pass_the_storage_quota() {
    let table = table().await;
    let files = FileRepo::new(table);
    let tenant = TenantId::new("quota");
    // Room for three 10-byte files by bytes, five by count: bytes decide.
    let quota = StorageQuota {
        files: 5,
        bytes: 35,
    };
    for i in 0..8 {
        files
            .create(&tenant, &file(i), 1_900_000_000)
            .await
            .unwrap();
    }
    let mut confirmations = tokio::task::JoinSet::new();
    for i in 0..8 {
        let files = files.clone();
        let tenant = tenant.clone();
        confirmations.spawn(async move {
            files
                .mark_uploaded(&tenant, file(i), quota, Vec::new())
                .await
        });
    }
    let outcomes = confirmations.join_all().await;
    let marked = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Confirmation::Marked(_))))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Confirmation::OverQuota(_))))
        .count();
    // A confirmation that met a racing one may answer 503 (retryable); none passes.
    assert_eq!(marked, 3, "{outcomes:?}");
    assert!(refused >= 1, "{outcomes:?}");
    assert_eq!(
        files.stored(&tenant).await.unwrap(),
        Stored {
            files: 3,
            bytes: 30
        }
    );
    assert!(
        quota
            .room_for(
                Stored {
                    files: 3,
                    bytes: 30
                },
                10
            )
            .is_err()
    );
    assert!(
        quota
            .room_for(
                Stored {
                    files: 2,
                    bytes: 20
                },
                10
            )
            .is_ok()
    );
}

/// Uploads never confirmed are found once given up, and only those.
#[tokio::test]
async fn abandoned_uploads_are_found_once_given_up_and_confirmed_ones_never() {
    let table = table().await;
    let files = FileRepo::new(table);
    let tenant = TenantId::new("sweep");
    let now = 1_900_000_000;
    files.create(&tenant, &file(0), now - 10).await.unwrap();
    files.create(&tenant, &file(1), now - 5).await.unwrap();
    files.create(&tenant, &file(2), now + 60).await.unwrap();
    let confirmed = files.mark_uploaded(&tenant, file(1), UNLIMITED, Vec::new());
    assert!(matches!(confirmed.await.unwrap(), Confirmation::Marked(_)));
    let found = files.abandoned(now, 100).await.unwrap();
    let ids: Vec<(&str, &str)> = found
        .iter()
        .filter(|(t, _)| *t == tenant)
        .map(|(t, f)| (t.as_str(), f.id.as_str()))
        .collect();
    assert_eq!(ids, [("sweep", file(0).id.as_str())]);
    assert!(files.remove_pending(&tenant, &file(0).id).await.unwrap());
    // Confirmed meanwhile, or removed already: left alone.
    assert!(!files.remove_pending(&tenant, &file(1).id).await.unwrap());
    assert!(!files.remove_pending(&tenant, &file(0).id).await.unwrap());
    assert!(
        files
            .abandoned(now, 100)
            .await
            .unwrap()
            .iter()
            .all(|(t, _)| *t != tenant)
    );
}
