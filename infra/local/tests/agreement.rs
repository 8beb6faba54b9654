//! The local stack and the cloud template must describe the same system: the same routes
//! for the same operations, and resource names the functions are configured with.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_local::{LOCAL_PREFIX, api_front::Routes};
use aloft_provision::{LOCAL_MAIL_FROM, resource_name};
use serde_norway::Value;

const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
const TEMPLATE: &str = include_str!("../../../template.yaml");
const DOCUMENT: &str = include_str!("../../../functions/docs/openapi.json");

fn watch_metadata() -> toml::Table {
    let manifest: toml::Table = toml::from_str(WORKSPACE_MANIFEST).unwrap();
    manifest["workspace"]["metadata"]["lambda"]["watch"]
        .as_table()
        .unwrap()
        .clone()
}

/// The local API front routes with the template's own route table, so the two cannot
/// disagree; what remains to check is that the API document and the template describe
/// the same operations: every documented operation reaches a function by its own route,
/// not the `$default` catch-all (which answers 404/405).
#[test]
fn every_documented_operation_has_a_route_in_the_template() {
    let template: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let routes = Routes::from_template(&template).unwrap();
    let document: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        // `{id}` → a concrete segment, as a client would send it.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = http::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let route = routes.find(&method, &concrete).unwrap();
            assert_ne!(route.route_key, "$default", "{method} {path} has no route");
            operations += 1;
        }
    }
    assert!(operations > 50, "only {operations} operations checked");
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
    // The sender the bootstrap verifies in the emulator's SES.
    assert_eq!(var("MAIL_FROM"), LOCAL_MAIL_FROM);
}

/// A worker counts attempts against `MAX_RECEIVE_COUNT` to know its last one (the job
/// becomes `dead`); SQS moves the message to the DLQ after the queue's `maxReceiveCount`.
/// Both must be the same number, in the cloud and locally.
#[test]
fn workers_know_their_queues_max_receive_count() {
    let template: Value = serde_norway::from_str(TEMPLATE).unwrap();
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
