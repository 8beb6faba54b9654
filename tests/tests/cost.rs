//! What a request costs in DynamoDB capacity, read from the `x-aloft-aws-usage` header the
//! local stack sets (units as DynamoDB's on-demand rules count them: the emulator runs
//! `infra/local/moto_capacity.py`).

use aloft_core::aws_usage::{self, AwsUsage};
use aloft_e2e::{Answer, Stack};
use reqwest::{Method, StatusCode};

fn usage(answer: &Answer) -> AwsUsage {
    AwsUsage::from_header_value(answer.header(aws_usage::HEADER))
        .unwrap_or_else(|| panic!("unreadable {}", answer.header(aws_usage::HEADER)))
}

/// `path`'s usage on a request inside a rate-limit window already running: the first
/// request of a user's minute also moves the finished minute into their monthly total.
async fn usage_in_a_running_window(stack: &Stack, bearer: &str, path: &str) -> AwsUsage {
    let mut previous = stack.call(bearer, Method::GET, path, "").await;
    for _ in 0..3 {
        let answer = stack.call(bearer, Method::GET, path, "").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        if answer.header("x-ratelimit-reset") == previous.header("x-ratelimit-reset") {
            return usage(&answer);
        }
        previous = answer;
    }
    panic!("three requests to {path} in three different minutes");
}

#[tokio::test]
async fn the_authenticated_read_path_is_one_write_and_at_most_two_reads() {
    let stack = Stack::new();
    let (bearer, _) = stack.new_user("cost").await;
    let created = stack
        .call(
            &bearer,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Costed"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let project = format!(
        "/api/v1/app/projects/{}",
        created.json()["id"].as_str().unwrap()
    );

    for path in ["/api/v1/app/users/me", project.as_str()] {
        let usage = usage_in_a_running_window(&stack, &bearer, path).await;
        assert!(
            usage.dynamodb_write_units <= 1.0 && usage.dynamodb_read_units <= 2.0,
            "GET {path}: {usage:?}"
        );
        assert!(usage.dynamodb_write_units > 0.0, "the request was counted");
        assert_eq!((usage.s3_calls, usage.sqs_calls), (0, 0), "GET {path}");
    }
}
