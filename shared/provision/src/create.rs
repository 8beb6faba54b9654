//! Creating the template's resources. Every step tolerates "already exists", so running
//! the bootstrap twice is harmless.

use std::collections::{BTreeMap, HashMap};

use aloft_store::AwsClients;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_sqs::{error::ProvideErrorMetadata, types::QueueAttributeName};

use crate::{
    AllowedOrigins, ProvisionError, Template, resource_name,
    template::{BucketSpec, KeyElement, QueueSpec, TableSpec},
};

/// Names and URLs of what was created, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub tables: BTreeMap<String, String>,
    pub buckets: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    /// Each KMS key's alias (`alias/<name>`), which KMS accepts as its key id.
    pub kms_keys: BTreeMap<String, String>,
}

/// Creates every table, bucket and queue of `template`, named under `prefix`.
pub async fn provision(
    clients: &AwsClients,
    template: &Template,
    prefix: &str,
) -> Result<Provisioned, ProvisionError> {
    let mut done = Provisioned::default();
    for table in &template.tables {
        let name = resource_name(prefix, &table.logical_id);
        create_table(clients, table, &name).await?;
        done.tables.insert(table.logical_id.clone(), name);
    }
    for bucket in &template.buckets {
        let name = resource_name(prefix, &bucket.logical_id);
        create_bucket(clients, bucket, &template.allowed_origins, &name).await?;
        done.buckets.insert(bucket.logical_id.clone(), name);
    }
    // Dead-letter queues first: a queue's redrive policy needs its DLQ's ARN.
    let (with_redrive, plain): (Vec<&QueueSpec>, Vec<&QueueSpec>) = template
        .queues
        .iter()
        .partition(|q| q.redrive_policy.is_some());
    let mut arns = BTreeMap::new();
    for queue in plain.into_iter().chain(with_redrive) {
        let name = resource_name(prefix, &queue.logical_id);
        let (url, arn) = create_queue(clients, queue, &name, &arns).await?;
        arns.insert(queue.logical_id.clone(), arn);
        done.queue_urls.insert(queue.logical_id.clone(), url);
    }
    for key in &template.kms_keys {
        let alias = format!("alias/{}", resource_name(prefix, key));
        create_kms_key(clients, &alias).await?;
        done.kms_keys.insert(key.clone(), alias);
    }
    Ok(done)
}

/// A symmetric key under `alias`, unless the alias exists already.
async fn create_kms_key(clients: &AwsClients, alias: &str) -> Result<(), ProvisionError> {
    let kms = aws_sdk_kms::Client::new(&clients.sdk);
    if kms.describe_key().key_id(alias).send().await.is_ok() {
        return Ok(());
    }
    let key = kms
        .create_key()
        .description(alias)
        .send()
        .await
        .map_err(|e| failed(alias)(&e))?;
    let key_id = key
        .key_metadata
        .map(|metadata| metadata.key_id)
        .ok_or_else(|| failed(alias)(&"no key metadata"))?;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
        .map_err(|e| failed(alias)(&e))?;
    Ok(())
}

pub(crate) fn failed(resource: &str) -> impl Fn(&dyn std::fmt::Debug) -> ProvisionError + '_ {
    move |cause| ProvisionError::Aws {
        resource: resource.to_owned(),
        cause: format!("{cause:?}"),
    }
}

fn key_schema(keys: &[KeyElement], name: &str) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| failed(name)(&e))
        })
        .collect()
}

async fn create_table(
    clients: &AwsClients,
    spec: &TableSpec,
    name: &str,
) -> Result<(), ProvisionError> {
    let attributes = spec
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| failed(name)(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = spec
        .global_secondary_indexes
        .iter()
        .map(|gsi| {
            GlobalSecondaryIndex::builder()
                .index_name(&gsi.index_name)
                .set_key_schema(Some(key_schema(&gsi.key_schema, name)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            gsi.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| failed(name)(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let created = clients
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&spec.key_schema, name)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(failed(name)(&e)),
    }
    if let Some(ttl) = &spec.time_to_live_specification {
        let ttl_spec = TimeToLiveSpecification::builder()
            .attribute_name(&ttl.attribute_name)
            .enabled(ttl.enabled)
            .build()
            .map_err(|e| failed(name)(&e))?;
        clients
            .dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl_spec)
            .send()
            .await
            .map_err(|e| failed(name)(&e))?;
    }
    Ok(())
}

async fn create_bucket(
    clients: &AwsClients,
    spec: &BucketSpec,
    origins: &AllowedOrigins,
    name: &str,
) -> Result<(), ProvisionError> {
    match clients.s3().create_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) => {}
        Err(e) => return Err(failed(name)(&e)),
    }
    let Some(cors) = &spec.cors_configuration else {
        return Ok(());
    };
    let rules = cors
        .cors_rules
        .iter()
        .map(|rule| {
            CorsRule::builder()
                .set_allowed_methods(Some(rule.allowed_methods.clone()))
                .set_allowed_origins(Some(origins.expand(&rule.allowed_origins)))
                .set_allowed_headers(Some(rule.allowed_headers.clone()))
                .set_expose_headers(Some(rule.exposed_headers.clone()))
                .set_max_age_seconds(rule.max_age)
                .build()
                .map_err(|e| failed(name)(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let configuration = CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .map_err(|e| failed(name)(&e))?;
    clients
        .s3()
        .put_bucket_cors()
        .bucket(name)
        .cors_configuration(configuration)
        .send()
        .await
        .map_err(|e| failed(name)(&e))?;
    Ok(())
}

/// Creates a queue (or brings an existing one in line with the template: a re-run after
/// the template changed) and returns its URL and ARN.
async fn create_queue(
    clients: &AwsClients,
    spec: &QueueSpec,
    name: &str,
    arns: &BTreeMap<String, String>,
) -> Result<(String, String), ProvisionError> {
    let mut attributes = HashMap::new();
    if let Some(seconds) = spec.visibility_timeout {
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some(seconds) = spec.message_retention_period {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            seconds.to_string(),
        );
    }
    if let Some(redrive) = &spec.redrive_policy {
        let dlq = redrive.dead_letter_queue()?;
        let arn = arns.get(&dlq).ok_or_else(|| {
            ProvisionError::Template(format!("{name}: dead-letter queue {dlq} is not a queue"))
        })?;
        let policy = format!(
            r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{}"}}"#,
            redrive.max_receive_count
        );
        attributes.insert(QueueAttributeName::RedrivePolicy, policy);
    }
    let created = clients
        .sqs()
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    let url = match created {
        Ok(output) => output.queue_url,
        // Same name, other attributes: the template changed since the last run.
        Err(e) if e.code() == Some("QueueAlreadyExists") => {
            let url = clients
                .sqs()
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| failed(name)(&e))?
                .queue_url
                .ok_or_else(|| failed(name)(&"no queue URL returned"))?;
            clients
                .sqs()
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| failed(name)(&e))?;
            Some(url)
        }
        Err(e) => return Err(failed(name)(&e)),
    }
    .ok_or_else(|| failed(name)(&"no queue URL returned"))?;
    let arn = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(name)(&e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| failed(name)(&"no queue ARN returned"))?;
    Ok((url, arn))
}
