//! Requests limited and metered by one update of the user's month item, against the
//! local emulator (which reports consumed capacity as DynamoDB does).

use aloft_core::aws_usage::measure;
use aloft_store::{
    Table, UsageMeter,
    usage::{API_REQUESTS, RequestLimit},
};
use aloft_testkit::TestEnv;
use time::macros::date;

async fn meter() -> UsageMeter {
    let env = TestEnv::new().await;
    UsageMeter::new(Table::new(env.clients.dynamodb.clone(), env.table()))
}

fn user(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::now_v7())
}

const PER_MINUTE: RequestLimit<'static> = RequestLimit {
    class: "default",
    limit: 3,
    window_secs: 60,
    daily: None,
    membership: None,
};
/// 2027-01-15T07:59:00Z, a window start.
const NOW: u64 = 1_799_999_999 - 1_799_999_999 % 60;

#[tokio::test]
async fn a_window_admits_its_limit_and_every_admitted_request_is_metered() {
    let meter = meter().await;
    let ann = user("ann");
    for i in 0..3u32 {
        let window = meter
            .count_request(&ann, PER_MINUTE, "projects", NOW + u64::from(i))
            .await
            .unwrap();
        assert!(window.allowed && !window.blocked, "request {i}");
        assert_eq!(window.remaining, 2 - i);
        assert_eq!(window.reset_at, NOW + 60);
    }
    let refused = meter
        .count_request(&ann, PER_MINUTE, "projects", NOW + 30)
        .await
        .unwrap();
    assert!(!refused.allowed && !refused.blocked);

    // The next window starts fresh and moves the finished one into the month total.
    let next = meter
        .count_request(&ann, PER_MINUTE, "users", NOW + 60)
        .await
        .unwrap();
    assert!(next.allowed);
    assert_eq!(next.remaining, 2);
    let month = meter
        .month(&ann, API_REQUESTS, date!(2027 - 01 - 15))
        .await
        .unwrap();
    assert_eq!(month.total, 4, "refused requests are not metered");
    assert_eq!(month.day(15), 4);
    assert_eq!(month.by.get("projects"), Some(&3));
    assert_eq!(month.by.get("users"), Some(&1));
    let top = meter
        .top(API_REQUESTS, date!(2027 - 01 - 15), 10)
        .await
        .unwrap();
    let ranked = top.users.iter().find(|r| r.user_id == ann).unwrap();
    assert_eq!(ranked.value, 3, "the ranking trails by the current window");
}

#[tokio::test]
async fn classes_have_windows_of_their_own_in_one_month_total() {
    let meter = meter().await;
    let bo = user("bo");
    let ai = RequestLimit {
        class: "ai",
        limit: 1,
        ..PER_MINUTE
    };
    assert!(
        meter
            .count_request(&bo, ai, "ai", NOW)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !meter
            .count_request(&bo, ai, "ai", NOW)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        meter
            .count_request(&bo, PER_MINUTE, "projects", NOW)
            .await
            .unwrap()
            .allowed
    );
    let month = meter
        .month(&bo, API_REQUESTS, date!(2027 - 01 - 01))
        .await
        .unwrap();
    assert_eq!(month.total, 2);
}

#[tokio::test]
async fn concurrent_requests_admit_exactly_the_limit_across_a_window_start() {
    let meter = meter().await;
    let cy = user("cy");
    let limit = RequestLimit {
        limit: 10,
        ..PER_MINUTE
    };
    // An old window is there: the first requests of the new one race to start it.
    meter
        .count_request(&cy, limit, "projects", NOW - 60)
        .await
        .unwrap();
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (meter, cy) = (meter.clone(), cy.clone());
            tokio::spawn(async move { meter.count_request(&cy, limit, "projects", NOW + 5).await })
        })
        .collect();
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap().allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
    let month = meter
        .month(&cy, API_REQUESTS, date!(2027 - 01 - 15))
        .await
        .unwrap();
    assert_eq!(month.total, 11);
}

#[tokio::test]
async fn a_blocked_user_is_refused_until_the_block_ends_or_is_lifted() {
    let meter = meter().await;
    let di = user("di");
    let until = NOW + 15 * 60;
    meter
        .count_request(&di, PER_MINUTE, "projects", NOW - 1)
        .await
        .unwrap();
    meter.block_requests(&di, NOW, until).await.unwrap();
    for at in [NOW, NOW + 300, until - 1] {
        let window = meter
            .count_request(&di, PER_MINUTE, "projects", at)
            .await
            .unwrap();
        assert!(!window.allowed && window.blocked, "at +{}", at - NOW);
    }
    assert!(
        meter
            .count_request(&di, PER_MINUTE, "projects", until)
            .await
            .unwrap()
            .allowed
    );

    meter.block_requests(&di, until, until + 900).await.unwrap();
    meter
        .unblock_requests(&di, until, until + 900)
        .await
        .unwrap();
    let after = meter
        .count_request(&di, PER_MINUTE, "projects", until + 60)
        .await
        .unwrap();
    assert!(after.allowed && !after.blocked);
    // Lifting a block on a user without usage is fine too.
    meter
        .unblock_requests(&user("eve"), NOW, until)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_request_in_a_running_window_costs_one_write_unit() {
    let meter = meter().await;
    let fay = user("fay");
    let limit = RequestLimit {
        limit: 100,
        ..PER_MINUTE
    };
    let (first, starting) = measure(meter.count_request(&fay, limit, "projects", NOW)).await;
    assert!(first.unwrap().allowed);
    let (second, running) = measure(meter.count_request(&fay, limit, "projects", NOW + 1)).await;
    assert!(second.unwrap().allowed);
    assert_eq!(
        (running.dynamodb_calls, running.dynamodb_write_units),
        (1, 1.0)
    );
    assert_eq!(running.dynamodb_read_units, 0.0);
    // Starting a window: the refused attempt, then the write that also updates the ranking.
    assert_eq!(starting.dynamodb_calls, 2);
    assert!(starting.dynamodb_write_units <= 4.0, "{starting:?}");
}

/// The UTC midnight after [`NOW`].
const MIDNIGHT: u64 = NOW - NOW % 86_400 + 86_400;

#[tokio::test]
async fn the_daily_allowance_spans_windows_and_classes_and_starts_again_at_midnight() {
    let meter = meter().await;
    let gus = user("gus");
    let daily = RequestLimit {
        limit: 100,
        daily: Some(4),
        ..PER_MINUTE
    };
    let ai = RequestLimit {
        class: "ai",
        ..daily
    };
    // Four requests in three windows of two classes use the day up.
    for (i, (at, limit)) in [(NOW - 120, daily), (NOW - 60, ai), (NOW, daily), (NOW, ai)]
        .into_iter()
        .enumerate()
    {
        let window = meter
            .count_request(&gus, limit, "projects", at)
            .await
            .unwrap();
        assert!(window.allowed, "request {i}");
    }
    let refused = meter
        .count_request(&gus, daily, "projects", NOW + 61)
        .await
        .unwrap();
    assert!(!refused.allowed && !refused.blocked);
    assert_eq!(
        (
            refused.limit,
            refused.remaining,
            refused.reset_at,
            refused.period_secs
        ),
        (4, 0, MIDNIGHT, 86_400)
    );
    // Refused requests are not metered.
    let month = meter
        .month(&gus, API_REQUESTS, date!(2027 - 01 - 15))
        .await
        .unwrap();
    assert_eq!(month.total, 4);
    let tomorrow = meter
        .count_request(&gus, daily, "projects", MIDNIGHT)
        .await
        .unwrap();
    assert!(tomorrow.allowed, "{tomorrow:?}");
}

#[tokio::test]
async fn the_window_answered_is_the_one_closer_to_its_limit() {
    let meter = meter().await;
    let hal = user("hal");
    let roomy_day = RequestLimit {
        daily: Some(1_000),
        ..PER_MINUTE
    };
    let first = meter
        .count_request(&hal, roomy_day, "projects", NOW)
        .await
        .unwrap();
    assert_eq!(
        (first.limit, first.remaining, first.period_secs),
        (3, 2, 60),
        "the minute: 2 of 3 left is less than 999 of 1,000"
    );
    let tight_day = RequestLimit {
        limit: 100,
        daily: Some(3),
        ..PER_MINUTE
    };
    let second = meter
        .count_request(&hal, tight_day, "projects", NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        (
            second.limit,
            second.remaining,
            second.reset_at,
            second.period_secs
        ),
        (3, 1, MIDNIGHT, 86_400),
        "the day: 1 of 3 left is less than 98 of 100"
    );
}

#[tokio::test]
async fn concurrent_requests_admit_exactly_the_daily_allowance() {
    let meter = meter().await;
    let ida = user("ida");
    let limit = RequestLimit {
        limit: 100,
        daily: Some(7),
        ..PER_MINUTE
    };
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (meter, ida) = (meter.clone(), ida.clone());
            tokio::spawn(async move { meter.count_request(&ida, limit, "projects", NOW + 5).await })
        })
        .collect();
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap().allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 7);
}
