//! The parts of `template.yaml` the local stack needs, read with short-form tags intact.

use serde::Deserialize;
use serde_norway::Value;

use crate::{AllowedOrigins, ProvisionError};

/// The data resources of the SAM template, and the functions' SQS event sources.
#[derive(Debug, Clone)]
pub struct Template {
    pub tables: Vec<TableSpec>,
    pub buckets: Vec<BucketSpec>,
    pub queues: Vec<QueueSpec>,
    /// Logical ids of the `AWS::KMS::Key` resources.
    pub kms_keys: Vec<String>,
    pub sqs_mappings: Vec<SqsMapping>,
    pub schedules: Vec<Schedule>,
    /// What `!Ref CorsAllowOrigins` stands for: the parameter's default until
    /// [`Template::allowing`] sets the configured list.
    pub allowed_origins: AllowedOrigins,
}

/// A function's `Events.<name>` entry of `Type: SQS`: what the Lambda SQS poller (locally,
/// infra/local's sqs-shim) reads from which queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMapping {
    pub function_logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the function's name under cargo lambda watch.
    pub binary: String,
    pub queue_logical_id: String,
    pub batch_size: u32,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: only the messages the function
    /// lists in `batchItemFailures` come back; the rest of the batch is deleted.
    pub report_batch_item_failures: bool,
}

/// A function's `Events.<name>` entry of `Type: Schedule` (an EventBridge rule): run the
/// function every `every` (locally, by infra/local's sqs-shim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// `Metadata.BuildProperties.Binary`.
    pub binary: String,
    /// From `Schedule: rate(<n> minute|minutes|hour|hours|day|days)`.
    pub every: std::time::Duration,
}

/// Lambda's default batch size for standard queues.
const DEFAULT_BATCH_SIZE: u32 = 10;

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
    /// A list, or `!Ref CorsAllowOrigins` (see [`AllowedOrigins::expand`]).
    pub allowed_origins: Value,
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
        arn_of(&self.dead_letter_target_arn).ok_or_else(|| {
            ProvisionError::Template("deadLetterTargetArn must be !GetAtt <Queue>.Arn".into())
        })
    }
}

/// The logical id named by `!GetAtt <Id>.Arn`, or by its long forms
/// `Fn::GetAtt: [<Id>, Arn]` and `Fn::GetAtt: <Id>.Arn`.
fn arn_of(value: &Value) -> Option<String> {
    let target = match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str()?.to_owned(),
        Value::Mapping(map) => match map.get("Fn::GetAtt")? {
            Value::Sequence(parts) => match parts.as_slice() {
                [id, attribute] if attribute.as_str() == Some("Arn") => {
                    format!("{}.Arn", id.as_str()?)
                }
                _ => return None,
            },
            other => other.as_str()?.to_owned(),
        },
        _ => return None,
    };
    target.strip_suffix(".Arn").map(str::to_owned)
}

impl Template {
    /// The project's own `template.yaml`, compiled in.
    pub fn bundled() -> Result<Self, ProvisionError> {
        Self::parse(include_str!("../../../template.yaml"))
    }

    pub fn parse(yaml: &str) -> Result<Self, ProvisionError> {
        let doc: Value =
            serde_norway::from_str(yaml).map_err(|e| ProvisionError::Template(e.to_string()))?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| ProvisionError::Template("no Resources section".into()))?;
        let mut template = Template {
            tables: Vec::new(),
            buckets: Vec::new(),
            queues: Vec::new(),
            kms_keys: Vec::new(),
            sqs_mappings: Vec::new(),
            schedules: Vec::new(),
            allowed_origins: AllowedOrigins::resolve(&doc, None)?,
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
                Some("AWS::KMS::Key") => template.kms_keys.push(id.clone()),
                Some("AWS::Serverless::Function") => {
                    template.sqs_mappings.extend(sqs_mappings(&id, resource)?);
                    template.schedules.extend(schedules(&id, resource)?);
                }
                _ => {}
            }
        }
        Ok(template)
    }

    /// The template with `configured` origins (`CORS_ALLOW_ORIGINS`) instead of the
    /// parameter's default, when set.
    pub fn allowing(mut self, configured: Option<&str>) -> Result<Self, ProvisionError> {
        if let Some(list) = configured {
            self.allowed_origins = AllowedOrigins::parse(list)?;
        }
        Ok(self)
    }
}

fn properties<T: serde::de::DeserializeOwned>(
    id: &str,
    resource: &Value,
) -> Result<T, ProvisionError> {
    let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
    serde_norway::from_value(props).map_err(|e| ProvisionError::Template(format!("{id}: {e}")))
}

/// The `Type: Schedule` entries of a function's `Events`.
fn schedules(id: &str, function: &Value) -> Result<Vec<Schedule>, ProvisionError> {
    let invalid = |what: &str| ProvisionError::Template(format!("{id}: {what}"));
    let events = function
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping);
    let mut schedules = Vec::new();
    for event in events.into_iter().flat_map(|events| events.values()) {
        if event.get("Type").and_then(Value::as_str) != Some("Schedule") {
            continue;
        }
        let binary = binary_of(function)
            .ok_or_else(|| invalid("a scheduled function needs Metadata.BuildProperties.Binary"))?;
        let expression = event
            .get("Properties")
            .and_then(|p| p.get("Schedule"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let every = rate(expression)
            .ok_or_else(|| invalid(&format!("Schedule '{expression}' is not rate(<n> <unit>)")))?;
        schedules.push(Schedule { binary, every });
    }
    Ok(schedules)
}

fn binary_of(function: &Value) -> Option<String> {
    function
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `rate(<n> <unit>)` as EventBridge reads it.
fn rate(expression: &str) -> Option<std::time::Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(n * seconds))
}

/// The `Type: SQS` entries of a function's `Events`.
fn sqs_mappings(id: &str, function: &Value) -> Result<Vec<SqsMapping>, ProvisionError> {
    let invalid = |what: &str| ProvisionError::Template(format!("{id}: {what}"));
    let Some(events) = function
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
    else {
        return Ok(Vec::new());
    };
    let mut mappings = Vec::new();
    for event in events.values() {
        if event.get("Type").and_then(Value::as_str) != Some("SQS") {
            continue;
        }
        let props = event.get("Properties").unwrap_or(&Value::Null);
        let binary = binary_of(function).ok_or_else(|| {
            invalid("an SQS-triggered function needs Metadata.BuildProperties.Binary")
        })?;
        let queue = props
            .get("Queue")
            .and_then(arn_of)
            .ok_or_else(|| invalid("SQS event Queue must be !GetAtt <Queue>.Arn"))?;
        let batch_size = match props.get("BatchSize") {
            None => DEFAULT_BATCH_SIZE,
            Some(size) => size
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("SQS event BatchSize must be a positive integer"))?,
        };
        let report_batch_item_failures = props
            .get("FunctionResponseTypes")
            .and_then(Value::as_sequence)
            .is_some_and(|types| {
                types
                    .iter()
                    .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
            });
        mappings.push(SqsMapping {
            function_logical_id: id.to_owned(),
            binary,
            queue_logical_id: queue,
            batch_size,
            report_batch_item_failures,
        });
    }
    Ok(mappings)
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
        let indexes: Vec<_> = table
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(indexes, ["gsi1", "gsi2", "ranking"]);
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

    #[test]
    fn bundled_template_maps_each_worker_to_its_queue() {
        let template = Template::bundled().unwrap();
        let mapping = |function: &str, binary: &str, queue: &str| SqsMapping {
            function_logical_id: function.into(),
            binary: binary.into(),
            queue_logical_id: queue.into(),
            batch_size: 10,
            report_batch_item_failures: true,
        };
        assert_eq!(
            template.sqs_mappings,
            [
                mapping("WebhookWorkerFunction", "webhook-worker", "WebhooksQueue"),
                mapping("JobsWorkerFunction", "jobs-worker", "JobsQueue"),
            ]
        );
        let relay = Schedule {
            binary: "jobs-worker".into(),
            every: std::time::Duration::from_secs(60),
        };
        assert_eq!(template.schedules, [relay]);
        assert_eq!(
            rate("rate(2 hours)"),
            Some(std::time::Duration::from_secs(7200))
        );
        assert_eq!(rate("rate(0 minutes)"), None);
        assert_eq!(rate("cron(0 12 * * ? *)"), None);
    }

    #[test]
    fn get_att_arn_is_read_in_short_and_long_forms() {
        let parse = |yaml: &str| arn_of(&serde_norway::from_str(yaml).unwrap());
        assert_eq!(parse("!GetAtt JobsQueue.Arn").as_deref(), Some("JobsQueue"));
        assert_eq!(
            parse("{Fn::GetAtt: [JobsQueue, Arn]}").as_deref(),
            Some("JobsQueue")
        );
        assert_eq!(
            parse("{Fn::GetAtt: JobsQueue.Arn}").as_deref(),
            Some("JobsQueue")
        );
        assert_eq!(parse("!GetAtt JobsQueue.QueueName"), None);
        assert_eq!(parse("!Ref JobsQueue"), None);
    }
}
