//! The local stack and the cloud template must describe the same system: the same routes
//! to the same functions, and resource names the functions are configured with.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::collections::BTreeSet;

use aloft_local::LOCAL_PREFIX;
use aloft_provision::resource_name;
use serde_yaml::Value;

const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
const TEMPLATE: &str = include_str!("../../../template.yaml");

fn watch_metadata() -> toml::Table {
    let manifest: toml::Table = toml::from_str(WORKSPACE_MANIFEST).unwrap();
    manifest["workspace"]["metadata"]["lambda"]["watch"]
        .as_table()
        .unwrap()
        .clone()
}

/// (path, function) pairs of the cargo lambda watch router. API Gateway's `$default`
/// route is the router's root catch-all.
fn watch_routes() -> BTreeSet<(String, String)> {
    watch_metadata()["router"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(path, function)| {
            let path = if path.starts_with("/{*") {
                "$default"
            } else {
                path
            };
            (path.to_owned(), function.as_str().unwrap().to_owned())
        })
        .collect()
}

/// (path, binary) pairs of every HttpApi event in template.yaml.
fn template_routes() -> BTreeSet<(String, String)> {
    let template: Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let path = event["Properties"]["Path"].as_str().unwrap();
                routes.insert((path.to_owned(), binary.to_owned()));
            }
        }
    }
    routes
}

#[test]
fn watch_router_and_template_routes_agree() {
    let local = watch_routes();
    let cloud = template_routes();
    assert!(!cloud.is_empty());
    assert_eq!(
        local,
        cloud,
        "only local: {:?}; only in template.yaml: {:?}",
        local.difference(&cloud).collect::<Vec<_>>(),
        cloud.difference(&local).collect::<Vec<_>>()
    );
}

#[test]
fn watch_env_names_the_resources_bootstrap_creates() {
    let env = watch_metadata()["env"].as_table().unwrap().clone();
    let var = |name: &str| env[name].as_str().unwrap().to_owned();
    assert_eq!(var("TABLE_NAME"), resource_name(LOCAL_PREFIX, "AppTable"));
    assert_eq!(
        var("BUCKET_NAME"),
        resource_name(LOCAL_PREFIX, "FilesBucket")
    );
    for (variable, queue) in [
        ("JOBS_QUEUE_URL", "JobsQueue"),
        ("WEBHOOKS_QUEUE_URL", "WebhooksQueue"),
    ] {
        let url = var(variable);
        assert!(
            url.starts_with(&var("AWS_ENDPOINT_URL")),
            "{variable} must point at the emulator"
        );
        assert!(url.ends_with(&format!("/{}", resource_name(LOCAL_PREFIX, queue))));
    }
}

/// A worker counts attempts against `MAX_RECEIVE_COUNT` to know its last one (the job
/// becomes `dead`); SQS moves the message to the DLQ after the queue's `maxReceiveCount`.
/// Both must be the same number, in the cloud and locally.
#[test]
fn workers_know_their_queues_max_receive_count() {
    let template: Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let local_env = watch_metadata()["env"].as_table().unwrap().clone();
    let mut workers = 0;
    for (_, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            let Value::Tagged(queue) = &event["Properties"]["Queue"] else {
                panic!("Queue must be !GetAtt <Queue>.Arn");
            };
            let queue_id = queue.value.as_str().unwrap().trim_end_matches(".Arn");
            let queue = &template["Resources"][queue_id];
            let max = queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
                .as_u64()
                .unwrap();
            let configured =
                resource["Properties"]["Environment"]["Variables"]["MAX_RECEIVE_COUNT"]
                    .as_str()
                    .unwrap();
            assert_eq!(configured, max.to_string(), "{queue_id}");
            assert_eq!(
                local_env["MAX_RECEIVE_COUNT"].as_str().unwrap(),
                max.to_string()
            );
            workers += 1;
        }
    }
    assert_eq!(workers, 2);
}
