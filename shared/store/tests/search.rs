//! The admin lists' search entries against the local emulator: written with a user or
//! an organization, moved by every change of a name (only the slots that change), gone
//! with a deleted organization; a search by the start of a word answered from them, each
//! owner once, paged by cursor; any other search answered by the bounded scan.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_core::{Page, PageParams, PageRequest, Slice};
use aloft_store::{
    AdminChange, Applied, Lifecycle, MemberRole, MembershipLimits, MembershipRecord,
    OrganizationChange, OrganizationRecord, OrganizationRepo, ProfileChange, Table, TenantId,
    UserRecord, UserRepo,
};
use aloft_testkit::{TestEnv, user_record};
use aws_sdk_dynamodb::types::AttributeValue;

async fn table() -> Table {
    let env = TestEnv::new().await;
    Table::new(env.clients.dynamodb.clone(), env.table())
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

fn user(id: &str, email: &str, name: &str) -> UserRecord {
    let mut user = user_record(id);
    user.email = email.into();
    user.full_name = Some(name.into());
    user
}

/// The search entries in the index of the owner whose partition is `pk`, by slot:
/// `(gsi2pk, gsi2sk)`.
async fn indexed(table: &Table, pk: &str) -> Vec<(String, String)> {
    let output = table
        .client()
        .query()
        .table_name(table.name())
        .key_condition_expression("pk = :pk AND begins_with(sk, :search)")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .expression_attribute_values(":search", AttributeValue::S("SEARCH#".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let text = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name)?.as_s().ok().cloned()
    };
    output
        .items()
        .iter()
        .filter_map(|item| Some((text(item, "gsi2pk")?, text(item, "gsi2sk")?)))
        .collect()
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(pk, sk)| ((*pk).to_owned(), (*sk).to_owned()))
        .collect()
}

/// The ids a search's first page shows.
async fn found(users: &UserRepo, search: &str) -> Vec<String> {
    let request = page(100, None, &format!("users:{search}"));
    let slice = users.search(&request, search, |_| true).await.unwrap();
    slice.items.into_iter().map(|user| user.id).collect()
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
async fn a_users_entries_follow_every_change_of_their_name() {
    let table = table().await;
    let users = UserRepo::new(table.clone());
    let ann = user("s-ann", "ann.lee@example.com", "Ann Marie Quill");
    users.create(&ann).await.unwrap();
    users
        .create(&user("s-bob", "bob@example.com", "Bob Annett"))
        .await
        .unwrap();
    assert_eq!(
        indexed(&table, "USER#s-ann").await,
        entries(&[
            ("USER_SEARCH#an", "ann.lee@example.com#s-ann"),
            ("USER_SEARCH#an", "ann marie quill#s-ann"),
            ("USER_SEARCH#ma", "marie quill#s-ann"),
            ("USER_SEARCH#qu", "quill#s-ann"),
        ])
    );
    // Ann matches by her email and her name, and is shown once, by the first.
    assert_eq!(found(&users, "ann").await, ["s-ann", "s-bob"]);
    assert_eq!(found(&users, "Marie  Q").await, ["s-ann"]);
    assert_eq!(found(&users, "quill").await, ["s-ann"]);

    // A profile change: the slots that change move, the emptied one leaves the index.
    let renamed = ProfileChange {
        full_name: Some("Ann Smith".into()),
        avatar_url: None,
    };
    let after = users
        .update_profile("s-ann", &renamed, "2026-02-01T00:00:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.full_name.as_deref(), Some("Ann Smith"));
    assert_eq!(after.email, ann.email);
    assert_eq!(
        indexed(&table, "USER#s-ann").await,
        entries(&[
            ("USER_SEARCH#an", "ann.lee@example.com#s-ann"),
            ("USER_SEARCH#an", "ann smith#s-ann"),
            ("USER_SEARCH#sm", "smith#s-ann"),
        ])
    );
    assert_eq!(found(&users, "smith").await, ["s-ann"]);
    // No entry begins with "quill" now: the scan looks for it anywhere, and finds no one.
    assert!(found(&users, "quill").await.is_empty());

    // An admin's change.
    let read = users.get("s-ann").await.unwrap().unwrap();
    let change = AdminChange {
        full_name: Some("Ann Jones".into()),
        role: Some("admin".into()),
        ..AdminChange::default()
    };
    let after = users
        .admin_update(&read, &change, "2026-02-02T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        (after.full_name.as_deref(), after.role.as_str()),
        (Some("Ann Jones"), "admin")
    );
    assert_eq!(users.get("s-ann").await.unwrap().unwrap(), after);
    // A change decided on the stale read is refused, and moves nothing.
    let stale = AdminChange {
        full_name: Some("Ann Stale".into()),
        ..AdminChange::default()
    };
    assert!(
        users
            .admin_update(&read, &stale, "2026-02-02T00:00:01Z")
            .await
            .is_err()
    );

    // An identity provider's event, and an older one after it (stale: nothing moves).
    let event = |name: &str| Lifecycle {
        profile: ProfileChange {
            full_name: Some(name.into()),
            avatar_url: None,
        },
        is_active: None,
    };
    let applied = users
        .apply_lifecycle(
            "s-ann",
            &event("Ann Kay Brown"),
            200,
            "2026-02-03T00:00:00Z",
        )
        .await
        .unwrap();
    assert_eq!(applied, Applied::Applied);
    let older = users
        .apply_lifecycle("s-ann", &event("Ann Older"), 100, "2026-02-03T00:00:01Z")
        .await
        .unwrap();
    assert_eq!(older, Applied::Stale);
    assert_eq!(
        indexed(&table, "USER#s-ann").await,
        entries(&[
            ("USER_SEARCH#an", "ann.lee@example.com#s-ann"),
            ("USER_SEARCH#an", "ann kay brown#s-ann"),
            ("USER_SEARCH#ka", "kay brown#s-ann"),
            ("USER_SEARCH#br", "brown#s-ann"),
        ])
    );
    let nobody = users
        .apply_lifecycle("s-nobody", &event("Who"), 300, "2026-02-03T00:00:02Z")
        .await
        .unwrap();
    assert_eq!(nobody, Applied::NoSuchPayer);

    // A name cleared: only the email is left to find her by.
    let cleared = ProfileChange {
        full_name: Some(String::new()),
        avatar_url: None,
    };
    users
        .update_profile("s-ann", &cleared, "2026-02-04T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        indexed(&table, "USER#s-ann").await,
        entries(&[("USER_SEARCH#an", "ann.lee@example.com#s-ann")])
    );
    assert!(
        users
            .update_profile("s-nobody", &cleared, "2026-02-04T00:00:00Z")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn what_create_writes_is_what_created_items_gives() {
    let table = table().await;
    let users = UserRepo::new(table.clone());
    let ann = user("ci-ann", "ci-ann@example.com", "Ann Marie Lee");
    users.create(&ann).await.unwrap();
    let expected = UserRepo::created_items(&ann).unwrap();
    assert_eq!(
        expected.len(),
        2 + 4,
        "profile, email link, email and three name words"
    );
    for item in expected {
        let stored = table
            .client()
            .get_item()
            .table_name(table.name())
            .set_key(Some(
                [("pk", &item["pk"]), ("sk", &item["sk"])]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect(),
            ))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(stored, item);
    }
}

#[tokio::test]
async fn a_search_pages_by_cursor_showing_each_user_once() {
    let table = table().await;
    let users = UserRepo::new(table);
    // Each matches "zed" by email and by name, and is shown once.
    for (i, id) in ["z1", "z2", "z3", "z4", "z5"].iter().enumerate() {
        let mut zed = user(id, &format!("zed{i}@example.com"), &format!("Zed {id}"));
        zed.created_at = format!("2026-01-01T00:00:0{i}Z");
        users.create(&zed).await.unwrap();
    }
    users
        .create(&user("other", "other@example.com", "Other Person"))
        .await
        .unwrap();

    let first = page(2, None, "users:zed");
    let slice = users.search(&first, "zed", |_| true).await.unwrap();
    assert_eq!(slice.items.len(), 2);
    assert!(!slice.total_exact && !slice.truncated, "{slice:?}");
    let all = walk(2, "users:zed", |request| {
        let users = users.clone();
        async move { users.search(&request, "zed", |_| true).await.unwrap() }
    })
    .await;
    let ids: Vec<String> = all.into_iter().map(|u: UserRecord| u.id).collect();
    // In the order of each one's first matching term: `zed z1#…` before `zed0@…`.
    assert_eq!(ids, ["z1", "z2", "z3", "z4", "z5"]);

    let whole = page(10, None, "users:zed");
    let slice = users.search(&whole, "zed", |_| true).await.unwrap();
    assert_eq!((slice.total, slice.total_exact), (5, true));
    assert_eq!(slice.next, None);

    // Filters apply to what the index finds.
    let odd = |user: &UserRecord| user.id == "z1" || user.id == "z3";
    let slice = users.search(&whole, "zed", odd).await.unwrap();
    let ids: Vec<&str> = slice.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["z1", "z3"]);

    // One character: the bounded scan, newest first, as before.
    let slice = users.search(&whole, "z", |_| true).await.unwrap();
    let ids: Vec<&str> = slice.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["z5", "z4", "z3", "z2", "z1"]);
    assert_eq!((slice.total, slice.total_exact), (5, true));
}

#[tokio::test]
async fn an_organizations_entries_follow_its_name_and_go_with_it() {
    let table = table().await;
    let organizations = OrganizationRepo::new(table.clone());
    let limits = MembershipLimits {
        members_per_organization: 10,
        organizations_per_user: 10,
    };
    let now = "2026-03-01T00:00:00Z";
    for (id, name) in [("o-acme", "Acme Rockets"), ("o-ajax", "Ajax Acme")] {
        let organization = OrganizationRecord::new(id.into(), name.into(), "owner".into(), now);
        let owner = MembershipRecord {
            tenant_id: id.into(),
            user_id: "owner".into(),
            role: MemberRole::Owner,
            joined_at: now.into(),
        };
        organizations
            .create(&organization, &owner, limits)
            .await
            .unwrap();
    }
    assert_eq!(
        indexed(&table, "ORG#o-acme").await,
        entries(&[
            ("ORG_SEARCH#ac", "acme rockets#o-acme"),
            ("ORG_SEARCH#ro", "rockets#o-acme"),
        ])
    );
    let search = async |term: &str| {
        let request = page(10, None, &format!("organizations:{term}"));
        let slice = organizations.search(&request, term).await.unwrap();
        slice.items.into_iter().map(|o| o.id).collect::<Vec<_>>()
    };
    // `acme rockets#…` sorts before `acme#…`: a space before `#`.
    assert_eq!(search("acme").await, ["o-acme", "o-ajax"]);
    assert_eq!(search("ROCK").await, ["o-acme"]);

    let rename = OrganizationChange {
        name: Some("Zenith Labs".into()),
        require_own_credentials: Some(true),
    };
    let tenant = TenantId::new("o-acme");
    let renamed = organizations
        .update(&tenant, &rename, "2026-03-02T00:00:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.require_own_credentials),
        ("Zenith Labs", true)
    );
    assert_eq!(renamed.member_count, 1);
    assert_eq!(organizations.get(&tenant).await.unwrap().unwrap(), renamed);
    assert_eq!(
        indexed(&table, "ORG#o-acme").await,
        entries(&[
            ("ORG_SEARCH#ze", "zenith labs#o-acme"),
            ("ORG_SEARCH#la", "labs#o-acme"),
        ])
    );
    assert_eq!(search("acme").await, ["o-ajax"]);
    assert_eq!(search("lab").await, ["o-acme"]);

    organizations.delete(&tenant).await.unwrap();
    assert!(indexed(&table, "ORG#o-acme").await.is_empty());
    assert!(search("zenith").await.is_empty());
    let gone = organizations
        .update(&tenant, &rename, "2026-03-03T00:00:00Z")
        .await
        .unwrap();
    assert!(gone.is_none());
}
