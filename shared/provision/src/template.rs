//! The parts of `template.yaml` the local stack needs, read with short-form tags intact.

use serde::Deserialize;
use serde_yaml::Value;

use crate::ProvisionError;

/// The data resources of the SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    pub tables: Vec<TableSpec>,
    pub buckets: Vec<BucketSpec>,
    pub queues: Vec<QueueSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    #[serde(skip)]
    pub logical_id: String,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalIndex>,
    pub time_to_live_specification: Option<TimeToLive>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketSpec {
    #[serde(skip)]
    pub logical_id: String,
    pub cors_configuration: Option<CorsConfiguration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CorsConfiguration {
    pub cors_rules: Vec<CorsRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CorsRule {
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    pub max_age: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueSpec {
    #[serde(skip)]
    pub logical_id: String,
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub redrive_policy: Option<RedrivePolicy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// `!GetAtt <Dlq>.Arn`, kept as YAML so the tag survives.
    dead_letter_target_arn: Value,
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// The logical id of the dead-letter queue named by `!GetAtt X.Arn`.
    pub fn dead_letter_queue(&self) -> Result<String, ProvisionError> {
        let target = match &self.dead_letter_target_arn {
            Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str(),
            Value::Mapping(map) => map.get("Fn::GetAtt").and_then(|v| v[0].as_str()),
            _ => None,
        };
        target
            .map(|t| t.trim_end_matches(".Arn").to_owned())
            .ok_or_else(|| {
                ProvisionError::Template("deadLetterTargetArn must be !GetAtt <Queue>.Arn".into())
            })
    }
}

impl Template {
    /// The project's own `template.yaml`, compiled in.
    pub fn bundled() -> Result<Self, ProvisionError> {
        Self::parse(include_str!("../../../template.yaml"))
    }

    pub fn parse(yaml: &str) -> Result<Self, ProvisionError> {
        let doc: Value =
            serde_yaml::from_str(yaml).map_err(|e| ProvisionError::Template(e.to_string()))?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| ProvisionError::Template("no Resources section".into()))?;
        let mut template = Template {
            tables: Vec::new(),
            buckets: Vec::new(),
            queues: Vec::new(),
        };
        for (id, resource) in resources {
            let id = id.as_str().unwrap_or_default().to_owned();
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => template.tables.push(TableSpec {
                    logical_id: id.clone(),
                    ..properties(&id, resource)?
                }),
                Some("AWS::S3::Bucket") => template.buckets.push(BucketSpec {
                    logical_id: id.clone(),
                    ..properties(&id, resource)?
                }),
                Some("AWS::SQS::Queue") => template.queues.push(QueueSpec {
                    logical_id: id.clone(),
                    ..properties(&id, resource)?
                }),
                _ => {}
            }
        }
        Ok(template)
    }
}

fn properties<T: serde::de::DeserializeOwned>(
    id: &str,
    resource: &Value,
) -> Result<T, ProvisionError> {
    let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
    serde_yaml::from_value(props).map_err(|e| ProvisionError::Template(format!("{id}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_template_describes_the_data_resources() {
        let template = Template::bundled().unwrap();
        let table = &template.tables[0];
        assert_eq!(table.logical_id, "AppTable");
        assert_eq!(table.key_schema[0].attribute_name, "pk");
        assert_eq!(table.global_secondary_indexes.len(), 2);
        assert_eq!(
            table
                .time_to_live_specification
                .as_ref()
                .unwrap()
                .attribute_name,
            "expires_at"
        );
        assert!(template.buckets[0].cors_configuration.is_some());
        let jobs = template
            .queues
            .iter()
            .find(|q| q.logical_id == "JobsQueue")
            .unwrap();
        let redrive = jobs.redrive_policy.as_ref().unwrap();
        assert_eq!(redrive.dead_letter_queue().unwrap(), "JobsDeadLetterQueue");
        assert_eq!(redrive.max_receive_count, 5);
    }
}
