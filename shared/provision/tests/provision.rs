//! Provisioning against the local emulator creates what the template describes.

use aloft_provision::{Template, provision};
use aloft_testkit::TestEnv;
use aws_sdk_sqs::types::QueueAttributeName;

#[tokio::test]
async fn table_has_the_template_keys_indexes_and_ttl() {
    let env = TestEnv::new().await;
    let table = env
        .clients
        .dynamodb
        .describe_table()
        .table_name(env.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let indexes: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(indexes, ["gsi1", "gsi2", "ranking"]);
    let ttl = env
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(env.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expires_at")
    );
}

#[tokio::test]
async fn queues_redrive_to_their_dead_letter_queue() {
    let env = TestEnv::new().await;
    let attributes = env
        .clients
        .sqs()
        .get_queue_attributes()
        .queue_url(env.queue_url("JobsQueue"))
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive = &attributes[&QueueAttributeName::RedrivePolicy];
    let redrive: serde_json::Value = serde_json::from_str(redrive).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-jobs-dead-letter-queue")
    );
    // The values the emulator reports are the template's, whatever they are today.
    let template = Template::bundled().unwrap();
    let spec = template.queues.iter().find(|q| q.logical_id == "JobsQueue");
    let spec = spec.unwrap();
    let max_receive_count = spec.redrive_policy.as_ref().unwrap().max_receive_count;
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        max_receive_count.to_string()
    );
    assert_eq!(
        attributes[&QueueAttributeName::VisibilityTimeout],
        spec.visibility_timeout.unwrap().to_string()
    );
}

#[tokio::test]
async fn bucket_allows_presigned_put_from_browsers() {
    let env = TestEnv::new().await;
    let cors = env
        .clients
        .s3()
        .get_bucket_cors()
        .bucket(env.bucket())
        .send()
        .await
        .unwrap();
    let methods = cors.cors_rules()[0].allowed_methods();
    assert!(methods.contains(&"PUT".to_owned()));
}

#[tokio::test]
async fn provisioning_twice_is_harmless() {
    let env = TestEnv::new().await;
    let prefix = env.table().trim_end_matches("-app-table").to_owned();
    let again = provision(&env.clients, &Template::bundled().unwrap(), &prefix)
        .await
        .unwrap();
    assert_eq!(again.tables["AppTable"], env.table());
}

#[tokio::test]
async fn provisioning_again_brings_changed_queues_in_line_with_the_template() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let env = TestEnv::new().await;
    let prefix = env.table().trim_end_matches("-app-table").to_owned();
    let jobs = env.queue_url("JobsQueue");
    // As if made from an older template.
    env.clients
        .sqs()
        .set_queue_attributes()
        .queue_url(&jobs)
        .attributes(QueueAttributeName::VisibilityTimeout, "7")
        .send()
        .await
        .unwrap();
    provision(&env.clients, &Template::bundled().unwrap(), &prefix)
        .await
        .unwrap();
    let attributes = env
        .clients
        .sqs()
        .get_queue_attributes()
        .queue_url(&jobs)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let template = Template::bundled().unwrap();
    let expected = template
        .queues
        .iter()
        .find(|q| q.logical_id == "JobsQueue")
        .unwrap()
        .visibility_timeout
        .unwrap();
    assert_eq!(
        attributes[&QueueAttributeName::VisibilityTimeout],
        expected.to_string()
    );
}
