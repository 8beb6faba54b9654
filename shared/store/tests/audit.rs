//! The audit log against the local emulator: every filter, time bounds, cursor paging,
//! and append-only writes.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_store::{AuditEntry, AuditLog, AuditQuery, Table};
use aloft_testkit::TestEnv;

async fn log() -> AuditLog {
    let env = TestEnv::new().await;
    AuditLog::new(Table::new(env.clients.dynamodb.clone(), env.table()))
}

fn entry(n: u32, at: &str, actor: &str, action: &str, resource_type: &str) -> AuditEntry {
    AuditEntry {
        id: format!("id-{n:03}"),
        created_at: at.to_owned(),
        actor_id: actor.to_owned(),
        tenant_id: None,
        impersonator_id: None,
        action: action.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: Some(format!("r{n}")),
        before: None,
        after: Some(format!(r#"{{"n":{n}}}"#)),
        ip_address: Some("203.0.113.7".into()),
        request_id: Some(format!("req-{n}")),
    }
}

fn ids(items: &[AuditEntry]) -> Vec<&str> {
    items.iter().map(|e| e.id.as_str()).collect()
}

fn query(limit: i32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

/// Six entries over three months (the newest this month, so an unbounded listing sees
/// them all).
async fn seeded() -> AuditLog {
    let log = log().await;
    let now = time::OffsetDateTime::now_utc().date();
    let this = aloft_store::usage::month_key(now);
    let last = aloft_store::usage::month_key(aloft_store::usage::previous_month(now));
    let before = aloft_store::usage::month_key(aloft_store::usage::previous_month(
        aloft_store::usage::previous_month(now),
    ));
    let entries = [
        entry(
            1,
            &format!("{before}-01T10:00:00Z"),
            "ann",
            "user.update",
            "user",
        ),
        entry(
            2,
            &format!("{before}-02T10:00:00Z"),
            "bob",
            "flag.create",
            "flag",
        ),
        entry(
            3,
            &format!("{last}-01T10:00:00Z"),
            "ann",
            "flag.update",
            "flag",
        ),
        entry(
            4,
            &format!("{last}-02T10:00:00Z"),
            "ann",
            "user.update",
            "user",
        ),
        entry(
            5,
            &format!("{this}-01T00:00:01Z"),
            "bob",
            "user.update",
            "user",
        ),
        entry(
            6,
            &format!("{this}-01T00:00:02Z"),
            "ann",
            "impersonate.start",
            "user",
        ),
    ];
    for entry in &entries {
        log.append(entry).await.unwrap();
    }
    log
}

#[tokio::test]
async fn every_filter_lists_its_entries_newest_first() {
    let log = seeded().await;
    let all = log.list(&query(50)).await.unwrap();
    assert_eq!(
        ids(&all.items),
        ["id-006", "id-005", "id-004", "id-003", "id-002", "id-001"]
    );
    assert_eq!(all.next_after, None);

    let by_actor = AuditQuery {
        actor_id: Some("ann".into()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&by_actor).await.unwrap().items),
        ["id-006", "id-004", "id-003", "id-001"]
    );
    let by_action = AuditQuery {
        action: Some("user.update".into()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&by_action).await.unwrap().items),
        ["id-005", "id-004", "id-001"]
    );
    let by_type = AuditQuery {
        resource_type: Some("flag".into()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&by_type).await.unwrap().items),
        ["id-003", "id-002"]
    );
    let combined = AuditQuery {
        actor_id: Some("ann".into()),
        action: Some("user.update".into()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&combined).await.unwrap().items),
        ["id-004", "id-001"]
    );
    let first = &all.items[5];
    assert_eq!(first.after.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(first.ip_address.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn an_organizations_entries_are_listed_under_it_alone() {
    let log = log().await;
    let in_tenant = |n, actor: &str, action: &str, tenant: Option<&str>| AuditEntry {
        tenant_id: tenant.map(str::to_owned),
        ..entry(
            n,
            &format!("2026-03-0{n}T10:00:00Z"),
            actor,
            action,
            "member",
        )
    };
    for entry in [
        in_tenant(1, "ann", "member.add", Some("org-a")),
        in_tenant(2, "bob", "member.update", Some("org-a")),
        in_tenant(3, "ann", "member.add", Some("org-b")),
        in_tenant(4, "ann", "member.remove", None),
        in_tenant(5, "ann", "member.remove", Some("org-a")),
    ] {
        log.append(&entry).await.unwrap();
        log.append(&entry).await.unwrap();
    }
    let of = |tenant: &str| AuditQuery {
        tenant_id: Some(tenant.into()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&of("org-a")).await.unwrap().items),
        ["id-005", "id-002", "id-001"]
    );
    assert_eq!(
        ids(&log.list(&of("org-b")).await.unwrap().items),
        ["id-003"]
    );
    // Every other filter narrows within the organization, never beyond it.
    let ann_in_a = AuditQuery {
        actor_id: Some("ann".into()),
        ..of("org-a")
    };
    assert_eq!(
        ids(&log.list(&ann_in_a).await.unwrap().items),
        ["id-005", "id-001"]
    );
    let removals_in_a = AuditQuery {
        action: Some("member.remove".into()),
        resource_type: Some("member".into()),
        ..of("org-a")
    };
    assert_eq!(
        ids(&log.list(&removals_in_a).await.unwrap().items),
        ["id-005"]
    );
    let first = log
        .list(&AuditQuery {
            limit: 2,
            ..of("org-a")
        })
        .await
        .unwrap();
    assert_eq!(ids(&first.items), ["id-005", "id-002"]);
    let rest = log
        .list(&AuditQuery {
            after: first.next_after,
            ..of("org-a")
        })
        .await
        .unwrap();
    assert_eq!(ids(&rest.items), ["id-001"]);
}

#[tokio::test]
async fn resource_id_narrows_whichever_key_is_read() {
    let log = seeded().await;
    let tenant_entry = AuditEntry {
        tenant_id: Some("org-a".into()),
        ..entry(7, "2026-03-01T10:00:00Z", "ann", "member.add", "member")
    };
    log.append(&tenant_entry).await.unwrap();
    let of = |resource: &str| AuditQuery {
        resource_id: Some(resource.into()),
        ..query(50)
    };
    let cases = [
        (of("r4"), vec!["id-004"]),
        (of("r9"), vec![]),
        (
            AuditQuery {
                actor_id: Some("ann".into()),
                ..of("r4")
            },
            vec!["id-004"],
        ),
        (
            AuditQuery {
                actor_id: Some("bob".into()),
                ..of("r4")
            },
            vec![],
        ),
        (
            AuditQuery {
                action: Some("user.update".into()),
                ..of("r5")
            },
            vec!["id-005"],
        ),
        (
            AuditQuery {
                resource_type: Some("user".into()),
                ..of("r1")
            },
            vec!["id-001"],
        ),
        (
            AuditQuery {
                resource_type: Some("flag".into()),
                ..of("r1")
            },
            vec![],
        ),
        (
            AuditQuery {
                tenant_id: Some("org-a".into()),
                ..of("r7")
            },
            vec!["id-007"],
        ),
        (
            AuditQuery {
                tenant_id: Some("org-a".into()),
                ..of("r4")
            },
            vec![],
        ),
    ];
    for (query, expected) in cases {
        let listed = log.list(&query).await.unwrap();
        assert_eq!(ids(&listed.items), expected, "{query:?}");
    }
}

#[tokio::test]
async fn an_entry_is_found_by_its_v7_id_in_the_second_it_names_or_next_to_it() {
    let log = log().await;
    // `Audit::record` makes the id, then `created_at` (whole seconds) a moment later.
    let made = |seconds: u64, millis: u32, created_at: &str, n: u32| AuditEntry {
        id: uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            seconds,
            millis * 1_000_000,
        ))
        .to_string(),
        ..entry(n, created_at, "ann", "user.update", "user")
    };
    let new_year = 1_767_225_600; // 2026-01-01T00:00:00Z
    let entries = [
        made(new_year + 5, 400, "2026-01-01T00:00:05Z", 1),
        // The second (here also the month) turned between the id and `created_at`.
        made(new_year - 1, 999, "2026-01-01T00:00:00Z", 2),
        // An id whose time ran ahead of the clock.
        made(new_year, 1, "2025-12-31T23:59:59Z", 3),
    ];
    for entry in &entries {
        log.append(entry).await.unwrap();
    }
    for entry in &entries {
        assert_eq!(log.get(&entry.id).await.unwrap().as_ref(), Some(entry));
    }
    let never_written =
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, new_year + 5, 0));
    for unknown in [
        never_written.to_string(),
        uuid::Uuid::new_v4().to_string(),
        "id-001".to_owned(),
    ] {
        assert_eq!(log.get(&unknown).await.unwrap(), None, "{unknown}");
    }
}

#[tokio::test]
async fn since_and_until_bound_the_time_inclusively() {
    let log = seeded().await;
    let all = log.list(&query(50)).await.unwrap().items;
    let (oldest, newest) = (&all[5].created_at, &all[0].created_at);
    let window = AuditQuery {
        since: Some(all[4].created_at.clone()),
        until: Some(all[1].created_at.clone()),
        ..query(50)
    };
    assert_eq!(
        ids(&log.list(&window).await.unwrap().items),
        ["id-005", "id-004", "id-003", "id-002"]
    );
    let by_actor = AuditQuery {
        actor_id: Some("ann".into()),
        since: Some(oldest.clone()),
        until: Some(oldest.clone()),
        ..query(50)
    };
    assert_eq!(ids(&log.list(&by_actor).await.unwrap().items), ["id-001"]);
    let until_newest = AuditQuery {
        until: Some(newest.clone()),
        ..query(1)
    };
    assert_eq!(
        ids(&log.list(&until_newest).await.unwrap().items),
        ["id-006"]
    );
}

#[tokio::test]
async fn a_cursor_pages_through_without_repeats_or_gaps() {
    let log = seeded().await;
    for filter in [
        query(2),
        AuditQuery {
            actor_id: Some("ann".into()),
            ..query(2)
        },
    ] {
        let expected = log
            .list(&AuditQuery {
                limit: 50,
                ..filter.clone()
            })
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = log
                .list(&AuditQuery {
                    after: cursor.clone(),
                    ..filter.clone()
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items);
            match page.next_after {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(ids(&seen), ids(&expected.items));
    }
}

#[tokio::test]
async fn a_filter_pages_past_months_and_reads_that_match_nothing() {
    let log = log().await;
    let now = time::OffsetDateTime::now_utc().date();
    let this = aloft_store::usage::month_key(now);
    let last = aloft_store::usage::month_key(aloft_store::usage::previous_month(now));
    let resource = format!("r-{}", uuid::Uuid::now_v7());
    // This month: the match is the oldest of five entries, below what one page of two
    // reads; last month: a match under a non-matching entry.
    let mut entries = Vec::new();
    for (n, (month, day, matches)) in [
        (&this, 5, false),
        (&this, 4, false),
        (&this, 3, false),
        (&this, 2, false),
        (&this, 1, true),
        (&last, 9, false),
        (&last, 8, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = entry(
            100 + u32::try_from(n).unwrap(),
            // In the month's first minutes: in the past whatever today is.
            &format!("{month}-01T00:{day:02}:00Z"),
            "ann",
            "user.update",
            "user",
        );
        if matches {
            e.resource_id = Some(resource.clone());
        }
        log.append(&e).await.unwrap();
        entries.push(e);
    }
    let filter = AuditQuery {
        resource_id: Some(resource.clone()),
        ..query(2)
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = log
            .list(&AuditQuery {
                after: cursor.clone(),
                ..filter.clone()
            })
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next_after {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids(&seen), ["id-104", "id-106"]);
}

#[tokio::test]
async fn appending_the_same_entry_again_keeps_the_first() {
    let log = log().await;
    let first = entry(1, "2026-11-30T10:00:00Z", "ann", "user.update", "user");
    log.append(&first).await.unwrap();
    let altered = AuditEntry {
        action: "user.delete".into(),
        ..first.clone()
    };
    log.append(&altered).await.unwrap();
    let listed = log
        .list(&AuditQuery {
            since: Some("2026-11-01".into()),
            until: Some("2026-11-30T23:59:59Z".into()),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(listed.items, [first]);
}

#[tokio::test]
async fn bounds_that_exclude_everything_list_nothing() {
    let log = seeded().await;
    for reversed in [
        AuditQuery {
            since: Some("2026-11-30T00:00:00Z".into()),
            until: Some("2020-01-01T00:00:00Z".into()),
            ..query(10)
        },
        AuditQuery {
            after: Some(String::new()),
            ..query(10)
        },
        AuditQuery {
            actor_id: Some("ann".into()),
            since: Some("2026-11-30T00:00:00Z".into()),
            after: Some("2020-01-01T00:00:00Z#id-001".into()),
            ..query(10)
        },
    ] {
        let page = log.list(&reversed).await.unwrap();
        assert!(page.items.is_empty(), "{reversed:?}");
        assert_eq!(page.next_after, None);
    }
}
