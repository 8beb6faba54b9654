//! Quota holds against the local emulator: concurrent holds, settling, and holds left by
//! a call that never settled.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_store::{
    Table, UsageMeter, UsageOwner,
    usage::{AI_TOKENS, HOLD_WINDOW_SECS, Reservation, Reserved},
};
use aloft_testkit::TestEnv;
use time::macros::datetime;

async fn meter() -> UsageMeter {
    let env = TestEnv::new().await;
    UsageMeter::new(Table::new(env.clients.dynamodb.clone(), env.table()))
}

fn owner(tag: &str) -> UsageOwner {
    UsageOwner::user(&format!("{tag}-{}", uuid::Uuid::now_v7()))
}

/// The start of a hold window in the middle of a month (epoch seconds), so a test can
/// move a window or two on without leaving the month.
fn window_start() -> u64 {
    let at = u64::try_from(datetime!(2026-11-10 12:00 UTC).unix_timestamp()).unwrap();
    at - at % HOLD_WINDOW_SECS
}

fn held(reserved: Reserved) -> Reservation {
    match reserved {
        Reserved::Held(reservation) => reservation,
        Reserved::Refused { used } => panic!("refused with {used} used"),
    }
}

async fn used(meter: &UsageMeter, owner: &UsageOwner) -> i64 {
    let month = time::macros::date!(2026 - 11 - 10);
    meter
        .month(&owner.id, AI_TOKENS, month)
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn concurrent_holds_admit_exactly_as_many_as_fit() {
    let meter = meter().await;
    let ann = owner("ann");
    let now = window_start() + 10;
    let holds: Vec<_> = (0..10)
        .map(|_| {
            let (meter, ann) = (meter.clone(), ann.clone());
            tokio::spawn(async move { meter.reserve(&ann, AI_TOKENS, 100, 450, now).await })
        })
        .collect();
    let mut admitted = 0;
    for hold in holds {
        match hold.await.unwrap().unwrap() {
            Reserved::Held(_) => admitted += 1,
            Reserved::Refused { used } => assert_eq!(used, 0),
        }
    }
    assert_eq!(admitted, 4, "4 x 100 fit in 450, 5 do not");
    assert_eq!(used(&meter, &ann).await, 0, "a hold is not usage");
}

#[tokio::test]
async fn settling_releases_the_hold_and_counts_what_was_used() {
    let meter = meter().await;
    let ann = owner("ann");
    let now = window_start() + 10;
    let first = held(meter.reserve(&ann, AI_TOKENS, 200, 300, now).await.unwrap());
    assert_eq!(
        meter.reserve(&ann, AI_TOKENS, 200, 300, now).await.unwrap(),
        Reserved::Refused { used: 0 }
    );

    meter.settle(&first, 50, Some("gpt-4o")).await.unwrap();

    let month = meter
        .month(&ann.id, AI_TOKENS, time::macros::date!(2026 - 11 - 10))
        .await
        .unwrap();
    assert_eq!(month.total, 50);
    assert_eq!(month.day(10), 50);
    assert_eq!(month.by["gpt-4o"], 50);
    let second = held(meter.reserve(&ann, AI_TOKENS, 200, 300, now).await.unwrap());
    assert_eq!(
        meter.reserve(&ann, AI_TOKENS, 51, 300, now).await.unwrap(),
        Reserved::Refused { used: 50 },
        "50 used and 200 held leave 50"
    );
    // A call that served nothing releases its hold and is charged nothing.
    meter.settle(&second, 0, None).await.unwrap();
    held(meter.reserve(&ann, AI_TOKENS, 250, 300, now).await.unwrap());
    assert_eq!(used(&meter, &ann).await, 50);
}

#[tokio::test]
async fn a_hold_never_settled_stops_counting_two_windows_on() {
    let meter = meter().await;
    let ann = owner("ann");
    let start = window_start();
    // A call that holds the whole quota and whose Lambda is killed: no settle.
    held(
        meter
            .reserve(&ann, AI_TOKENS, 100, 100, start)
            .await
            .unwrap(),
    );

    // Held a whole window on and more: it outlasts any call.
    for secs in [1, HOLD_WINDOW_SECS, 2 * HOLD_WINDOW_SECS - 1] {
        let reserved = meter.reserve(&ann, AI_TOKENS, 1, 100, start + secs).await;
        assert_eq!(
            reserved.unwrap(),
            Reserved::Refused { used: 0 },
            "{secs} s on"
        );
    }
    let expired = start + 2 * HOLD_WINDOW_SECS;
    held(
        meter
            .reserve(&ann, AI_TOKENS, 1, 100, expired)
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_call_settled_after_the_window_moved_on_releases_its_hold() {
    let meter = meter().await;
    let ann = owner("ann");
    let start = window_start();
    let early = held(
        meter
            .reserve(&ann, AI_TOKENS, 100, 300, start)
            .await
            .unwrap(),
    );
    let next = start + HOLD_WINDOW_SECS;
    held(
        meter
            .reserve(&ann, AI_TOKENS, 100, 300, next)
            .await
            .unwrap(),
    );

    meter.settle(&early, 30, Some("gpt-4o")).await.unwrap();

    // 30 used and 100 held: 170 is left, and only that.
    assert_eq!(
        meter
            .reserve(&ann, AI_TOKENS, 171, 300, next)
            .await
            .unwrap(),
        Reserved::Refused { used: 30 }
    );
    held(
        meter
            .reserve(&ann, AI_TOKENS, 170, 300, next)
            .await
            .unwrap(),
    );
    assert_eq!(used(&meter, &ann).await, 30);
}

#[tokio::test]
async fn a_call_settled_after_its_hold_expired_is_still_counted() {
    let meter = meter().await;
    let ann = owner("ann");
    let start = window_start();
    let slow = held(
        meter
            .reserve(&ann, AI_TOKENS, 100, 300, start)
            .await
            .unwrap(),
    );
    let much_later = start + 2 * HOLD_WINDOW_SECS;
    held(
        meter
            .reserve(&ann, AI_TOKENS, 100, 300, much_later)
            .await
            .unwrap(),
    );

    meter.settle(&slow, 40, None).await.unwrap();

    assert_eq!(used(&meter, &ann).await, 40);
    // 40 used and the newer 100 held (the expired hold is not taken off twice).
    assert_eq!(
        meter
            .reserve(&ann, AI_TOKENS, 161, 300, much_later)
            .await
            .unwrap(),
        Reserved::Refused { used: 40 }
    );
    held(
        meter
            .reserve(&ann, AI_TOKENS, 160, 300, much_later)
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn an_organizations_members_hold_on_its_pooled_month() {
    let meter = meter().await;
    let org = format!("org-{}", uuid::Uuid::now_v7());
    let member = |user: &str| UsageOwner {
        id: org.clone(),
        member: Some(user.to_owned()),
    };
    let now = window_start() + 10;
    let ann = held(
        meter
            .reserve(&member("ann"), AI_TOKENS, 60, 100, now)
            .await
            .unwrap(),
    );
    assert_eq!(
        meter
            .reserve(&member("bob"), AI_TOKENS, 60, 100, now)
            .await
            .unwrap(),
        Reserved::Refused { used: 0 },
        "ann's hold counts against bob"
    );

    meter.settle(&ann, 25, Some("gpt-4o")).await.unwrap();

    let month = meter
        .month(&org, AI_TOKENS, time::macros::date!(2026 - 11 - 10))
        .await
        .unwrap();
    assert_eq!(month.total, 25);
    assert_eq!(month.members["ann"], 25);
    held(
        meter
            .reserve(&member("bob"), AI_TOKENS, 60, 100, now)
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn tokens_charged_without_a_hold_count_against_later_holds() {
    let meter = meter().await;
    let ann = owner("ann");
    let now = window_start() + 10;
    let day = time::macros::date!(2026 - 11 - 10);
    held(meter.reserve(&ann, AI_TOKENS, 10, 100, now).await.unwrap());

    // Charged on a plan without a quota (before a plan change, say).
    meter
        .charge(&ann, AI_TOKENS, day, 80, Some("gpt-4o"))
        .await
        .unwrap();

    assert_eq!(used(&meter, &ann).await, 80);
    assert_eq!(
        meter.reserve(&ann, AI_TOKENS, 11, 100, now).await.unwrap(),
        Reserved::Refused { used: 80 },
        "80 used and 10 held"
    );
    held(meter.reserve(&ann, AI_TOKENS, 10, 100, now).await.unwrap());
}
