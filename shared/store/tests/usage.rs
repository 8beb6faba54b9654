//! Usage counters against the local emulator.

use aloft_store::{
    Table, UsageMeter, UsageOwner,
    usage::{AI_TOKENS, API_REQUESTS, FILE_UPLOADS, STORAGE_BYTES},
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

#[tokio::test]
async fn concurrent_counts_add_up_by_day_month_and_dimension() {
    let meter = meter().await;
    let ann = user("ann");
    let day = date!(2026 - 11 - 22);
    let adds: Vec<_> = (0..20)
        .map(|i| {
            let (meter, ann) = (meter.clone(), ann.clone());
            let group = if i % 4 == 0 { "files" } else { "projects" };
            tokio::spawn(async move {
                meter
                    .add(&UsageOwner::user(&ann), API_REQUESTS, day, 1, Some(group))
                    .await
            })
        })
        .collect();
    for added in adds {
        added.await.unwrap().unwrap();
    }
    meter
        .add(
            &UsageOwner::user(&ann),
            API_REQUESTS,
            date!(2026 - 11 - 23),
            2,
            Some("users"),
        )
        .await
        .unwrap();

    let november = meter.month(&ann, API_REQUESTS, day).await.unwrap();
    assert_eq!(november.total, 22);
    assert_eq!(november.day(22), 20);
    assert_eq!(november.day(23), 2);
    assert_eq!(november.day(1), 0);
    assert_eq!(november.by["projects"], 15);
    assert_eq!(november.by["files"], 5);
    assert_eq!(november.by["users"], 2);
    let december = meter
        .month(&ann, API_REQUESTS, date!(2026 - 12 - 01))
        .await
        .unwrap();
    assert_eq!(december.total, 0);
}

#[tokio::test]
async fn negative_amounts_take_usage_back() {
    let meter = meter().await;
    let ann = user("ann");
    let day = date!(2026 - 11 - 02);
    meter
        .add(&UsageOwner::user(&ann), STORAGE_BYTES, day, 1000, None)
        .await
        .unwrap();
    meter
        .add(&UsageOwner::user(&ann), STORAGE_BYTES, day, -400, None)
        .await
        .unwrap();
    assert_eq!(
        meter.month(&ann, STORAGE_BYTES, day).await.unwrap().total,
        600
    );
}

#[tokio::test]
async fn one_batch_reads_every_metric_and_month_asked_for() {
    let meter = meter().await;
    let ann = user("ann");
    let (october, november) = (date!(2026 - 10 - 31), date!(2026 - 11 - 01));
    meter
        .add(
            &UsageOwner::user(&ann),
            AI_TOKENS,
            october,
            70,
            Some("gpt-4o"),
        )
        .await
        .unwrap();
    meter
        .add(
            &UsageOwner::user(&ann),
            AI_TOKENS,
            november,
            30,
            Some("gpt-4o"),
        )
        .await
        .unwrap();
    meter
        .add(&UsageOwner::user(&ann), FILE_UPLOADS, november, 1, None)
        .await
        .unwrap();

    let read = meter
        .months(
            &ann,
            &[AI_TOKENS, FILE_UPLOADS, API_REQUESTS],
            &[october, november],
        )
        .await
        .unwrap();
    assert_eq!(read.len(), 6);
    assert_eq!(read[&("ai_tokens", "2026-10".to_owned())].total, 70);
    assert_eq!(read[&("ai_tokens", "2026-11".to_owned())].by["gpt-4o"], 30);
    assert_eq!(read[&("file_uploads", "2026-11".to_owned())].day(1), 1);
    assert_eq!(read[&("api_requests", "2026-11".to_owned())].total, 0);
}

#[tokio::test]
async fn an_organizations_usage_is_pooled_and_split_by_member_but_never_ranked() {
    let meter = meter().await;
    // A month of its own, so other tests' users do not rank in it.
    let year = 2100 + i32::try_from(uuid::Uuid::now_v7().as_u128() % 800).unwrap();
    let day = time::Date::from_calendar_date(year, time::Month::March, 3).unwrap();
    let org = user("org");
    let member = |id: &str| UsageOwner {
        id: org.clone(),
        member: Some(id.to_owned()),
    };
    for (who, tokens) in [("ann", 40), ("bob", 25), ("ann", 10)] {
        meter
            .add(&member(who), AI_TOKENS, day, tokens, Some("gpt-4o"))
            .await
            .unwrap();
    }
    let month = meter.month(&org, AI_TOKENS, day).await.unwrap();
    assert_eq!(month.total, 75, "one pooled total");
    assert_eq!(month.by["gpt-4o"], 75);
    assert_eq!(month.members["ann"], 50);
    assert_eq!(month.members["bob"], 25);
    let ranking = meter.top(AI_TOKENS, day, 10).await.unwrap();
    assert!(ranking.users.is_empty(), "{ranking:?}");
}

#[tokio::test]
async fn the_ranking_lists_a_months_top_users_reading_at_most_its_limit_per_shard() {
    let meter = meter().await;
    // A month of its own, so other tests' users do not rank in it.
    let year = 2100 + i32::try_from(uuid::Uuid::now_v7().as_u128() % 800).unwrap();
    let month = time::Date::from_calendar_date(year, time::Month::March, 3).unwrap();
    let (heavy, moderate, light) = (user("heavy"), user("moderate"), user("light"));
    for (who, tokens) in [(&light, 12), (&heavy, 125), (&moderate, 45)] {
        meter
            .add(&UsageOwner::user(who), AI_TOKENS, month, tokens, Some("m"))
            .await
            .unwrap();
    }
    // Usage of another metric and another month must not rank here.
    meter
        .add(&UsageOwner::user(&light), API_REQUESTS, month, 1000, None)
        .await
        .unwrap();
    let april = month.replace_month(time::Month::April).unwrap();
    meter
        .add(&UsageOwner::user(&light), AI_TOKENS, april, 1000, None)
        .await
        .unwrap();

    let top = meter.top(AI_TOKENS, month, 2).await.unwrap();
    let ranked: Vec<_> = top
        .users
        .iter()
        .map(|r| (r.user_id.as_str(), r.value))
        .collect();
    assert_eq!(ranked, [(heavy.as_str(), 125), (moderate.as_str(), 45)]);
    // Each of the 16 shards reads at most `limit` of its own: here every user there is.
    assert!(top.items_read <= 3, "{top:?}");

    let all = meter.top(AI_TOKENS, month, 100).await.unwrap();
    assert_eq!(all.users.len(), 3);
    assert_eq!(all.items_read, 3);
    assert_eq!(all.users[2].user_id, light);
}
