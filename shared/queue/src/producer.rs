//! Enqueueing: the job record first, then the message, so a worker never sees a message
//! without its record. Both carry the trace of the request (or message) that enqueues:
//! the record its trace id, the message the trace header as SQS's `AWSTraceHeader`.
//!
//! The record is the job's outbox entry: once it is stored the job will run, whether or
//! not its message is sent now. A record still `queued` and untouched for
//! [`RELAY_AFTER`] has its message sent again by [`Producer::relay`], which the jobs
//! worker runs every minute. A job that follows a change is staged in that change's
//! transaction ([`Producer::stage`]), so it exists exactly when the change does. A job
//! is counted on the admin dashboard (`jobs_queued`) in the transaction that stores it.

use aloft_config::{ConfigError, Env};
use aloft_core::trace;
use aloft_http::TraceHeader;
use aloft_store::{AwsClients, JobRecord, JobRepo, JobStatus, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;
use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use serde::{Deserialize, Serialize};

/// The queues jobs travel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Background work: emails, CRM calls, outgoing webhooks (`jobs-worker`).
    Jobs,
    /// Verified provider events (`webhook-worker`).
    Webhooks,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Jobs => "jobs",
            QueueName::Webhooks => "webhooks",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [QueueName::Jobs, QueueName::Webhooks]
            .into_iter()
            .find(|q| q.as_str() == raw)
    }

    fn env_var(self) -> &'static str {
        match self {
            QueueName::Jobs => "JOBS_QUEUE_URL",
            QueueName::Webhooks => "WEBHOOKS_QUEUE_URL",
        }
    }
}

/// The URLs of the queues a function sends to.
#[derive(Debug, Clone, Default)]
pub struct QueueUrls {
    jobs: Option<String>,
    webhooks: Option<String>,
}

impl QueueUrls {
    /// Reads the URL of each of `queues` (`JOBS_QUEUE_URL`, `WEBHOOKS_QUEUE_URL`); a
    /// missing one fails the cold start.
    pub fn from_env(env: &Env, queues: &[QueueName]) -> Result<Self, ConfigError> {
        let mut urls = Self::default();
        for &queue in queues {
            let url = Some(env.required(queue.env_var())?);
            match queue {
                QueueName::Jobs => urls.jobs = url,
                QueueName::Webhooks => urls.webhooks = url,
            }
        }
        Ok(urls)
    }

    pub fn url(&self, queue: QueueName) -> Result<&str, StoreError> {
        match queue {
            QueueName::Jobs => self.jobs.as_deref(),
            QueueName::Webhooks => self.webhooks.as_deref(),
        }
        .ok_or_else(|| StoreError::Other(format!("{} is not set", queue.env_var())))
    }
}

/// The message body: the job's id (its record holds the rest) and kind (for logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    pub kind: String,
}

/// A job to enqueue. The `id` makes enqueueing idempotent: the same id twice is one job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub kind: String,
    pub queue: QueueName,
    pub payload: serde_json::Value,
    /// Whose usage the job counts (see [`JobRecord::user_id`]).
    pub user_id: Option<String>,
}

impl NewJob {
    /// The job, done for `user_id` (`None` keeps it the system's).
    pub fn for_user(self, user_id: Option<String>) -> Self {
        Self { user_id, ..self }
    }

    /// Its record as stored before its message is sent: queued now, in `trace`.
    pub fn queued(self, trace: Option<&TraceHeader>) -> JobRecord {
        let now = aloft_core::timestamp::now();
        JobRecord {
            id: self.id,
            kind: self.kind,
            queue: self.queue.as_str().to_owned(),
            payload: self.payload.to_string(),
            status: JobStatus::Queued,
            attempts: 0,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
            finished_at: None,
            user_id: self.user_id,
            trace_id: trace.map(|t| t.trace_id().to_owned()),
        }
    }
}

/// How long a stored job may stay queued and untouched before its message is sent again.
/// Longer than a send takes (with its retries), shorter than anyone waits for mail.
pub const RELAY_AFTER: time::Duration = time::Duration::seconds(30);

/// The most jobs one relay run sends.
const RELAY_BATCH: usize = 200;

/// A job stored with a change, in its transaction.
#[derive(Debug, Clone)]
pub struct Staged {
    pub record: JobRecord,
    /// Put them in the change's transaction: the job's record and its count on the
    /// dashboard ([`JobRepo::create_write`]; the change must not count there too).
    pub writes: Vec<TransactWriteItem>,
}

#[derive(Debug, Clone)]
pub struct Producer {
    /// Its SQS client is built on the first send, not at cold start.
    aws: AwsClients,
    jobs: JobRepo,
    urls: QueueUrls,
}

impl Producer {
    pub fn new(aws: &AwsClients, jobs: JobRepo, urls: QueueUrls) -> Self {
        Self {
            aws: aws.clone(),
            jobs,
            urls,
        }
    }

    /// Stores the job and sends its message, in the current trace
    /// ([`TraceHeader::current`]). An id that is already stored is that job: it is
    /// returned and not sent again. Once the record is stored the job is queued: a send
    /// that fails is left to [`Self::relay`].
    pub async fn enqueue(&self, job: NewJob) -> Result<JobRecord, StoreError> {
        let trace = TraceHeader::current();
        let record = job.queued(trace.as_ref());
        match self.jobs.create(&record).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                return self
                    .jobs
                    .get(&record.id)
                    .await?
                    .ok_or(StoreError::ConditionFailed);
            }
            Err(e) => return Err(e),
        }
        self.send_or_relay(&record).await;
        Ok(record)
    }

    /// Stores `jobs` together, all or none, then sends their messages (a failed send is
    /// left to [`Self::relay`]): for work that is one thing to its caller (a contact
    /// submission's emails, CRM call and event).
    pub async fn enqueue_together(&self, jobs: Vec<NewJob>) -> Result<Vec<JobRecord>, StoreError> {
        let trace = TraceHeader::current();
        let records: Vec<JobRecord> = jobs
            .into_iter()
            .map(|job| job.queued(trace.as_ref()))
            .collect();
        self.jobs.create_together(&records).await?;
        for record in &records {
            self.dispatch(record).await;
        }
        Ok(records)
    }

    /// The job as writes of the transaction of the change it follows: its record and its
    /// count. After the transaction, [`Self::dispatch`] it.
    pub fn stage(&self, job: NewJob) -> Result<Staged, StoreError> {
        let record = job.queued(TraceHeader::current().as_ref());
        let writes = self.jobs.create_write(&record)?;
        Ok(Staged { record, writes })
    }

    /// Sends a job whose transaction is in (it was counted there; a failed send is left
    /// to [`Self::relay`]).
    pub async fn dispatch(&self, record: &JobRecord) {
        self.send_or_relay(record).await;
    }

    /// Sends a stored job's message; a failure is logged and left to [`Self::relay`].
    pub async fn send_or_relay(&self, record: &JobRecord) {
        if let Err(e) = self.send(record).await {
            tracing::warn!(job.id = %record.id, error.cause = %e, "job stored, message not sent: the relay will send it");
        }
    }

    /// Sends again the message of every job still `queued` and untouched for `quiet`
    /// ([`RELAY_AFTER`] when scheduled; at most [`RELAY_BATCH`] a run): the ones whose
    /// send failed, or whose message was lost. Each is claimed first, so concurrent runs
    /// send it once. How many were sent.
    pub async fn relay(&self, quiet: time::Duration) -> Result<usize, StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let before = aloft_core::timestamp::format(now - quiet);
        let now = aloft_core::timestamp::format(now);
        let mut sent = 0;
        for job in self.jobs.unsent(&before, RELAY_BATCH).await? {
            if self.jobs.claim_unsent(&job, &now).await? {
                self.send(&job).await?;
                tracing::info!(job.id = %job.id, job.kind = %job.kind, "relayed an unsent job");
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Sends the message of a stored job (again, for a retry), with its trace as the
    /// message's `AWSTraceHeader`: the trace stored with the job, so a job the relay or a
    /// retry sends later is still worked in the trace it was queued in; else the
    /// current one.
    pub async fn send(&self, job: &JobRecord) -> Result<(), StoreError> {
        let queue = QueueName::parse(&job.queue)
            .ok_or_else(|| StoreError::Other(format!("job {} names no queue", job.id)))?;
        let body = serde_json::to_string(&JobMessage {
            job_id: job.id.clone(),
            kind: job.kind.clone(),
        })
        .map_err(|e| StoreError::Other(e.to_string()))?;
        let header = match (job.trace_id.as_deref(), TraceHeader::current()) {
            // Sent later (relay, retry): its own trace, whose spans are long finished.
            (Some(root), Some(current)) if root != current.trace_id() => {
                Some(format!("Root={root}"))
            }
            // Sent in the trace it was queued in: from the current span when spans are
            // exported (the consumer's parent is then one the collector has), else from
            // X-Ray's segment, as Lambda gave it.
            (_, Some(current)) => Some(match trace::collecting() {
                true => current.xray_header(),
                false => current.as_str().to_owned(),
            }),
            (Some(root), None) => Some(format!("Root={root}")),
            (None, None) => None,
        };
        let trace = header
            .map(|header| {
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(header)
                    .build()
            })
            .transpose()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let mut send = self
            .aws
            .sqs()
            .send_message()
            .queue_url(self.urls.url(queue)?)
            .message_body(body);
        if let Some(trace) = trace {
            send = send.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                trace,
            );
        }
        send.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }
}
