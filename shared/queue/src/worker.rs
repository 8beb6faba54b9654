//! The worker harness every SQS function runs: one span, one trace, one job record and
//! one log line per message; messages of a batch run concurrently, failures are backed
//! off and reported as `batchItemFailures` so only they come back. Metrics:
//! `JobsSucceeded` / `JobsFailed` / `JobsDead` per kind, and `ColdStarts`.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};

use aloft_config::{ConfigError, Env};
use aloft_core::trace::{self, SpanKind};
use aloft_http::{TraceHeader, metrics, otlp::Exporter};
use aloft_store::{
    JobRecord, JobRepo, JobStatus, Start, StoreError, Table, UsageMeter, usage::BACKGROUND_JOBS,
};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::{JobMessage, Queued, Staged};

mod outcome;

use outcome::{Outcome, Ran};

/// The longest backoff: later attempts wait this long.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Which attempt this is, counted by SQS receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    /// Failing now sends the message to the dead-letter queue.
    pub last: bool,
}

/// Why a job failed, and whether another attempt can help. Its text becomes the job's
/// `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A timeout, a throttle, a 5xx, a receiver that is down: retried with backoff until
    /// the last attempt.
    #[error("{0}")]
    Retryable(String),
    /// No attempt can succeed (a payload that is not the kind's, a missing setting): the
    /// job is `dead` at once and its message deleted; an admin can retry it.
    #[error("{0}")]
    Permanent(String),
}

/// Most failures are worth another attempt.
impl From<String> for JobError {
    fn from(cause: String) -> Self {
        JobError::Retryable(cause)
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retryable(e.to_string())
    }
}

/// Runs the jobs of one queue, parsed from their records before they reach it.
pub trait Handler: Send + Sync + 'static {
    /// The queue's jobs; a record that is not one of them is dead at once.
    type Job: Queued;

    fn handle(
        &self,
        job: Self::Job,
        record: &JobRecord,
        attempt: Attempt,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// The job to store when `job` succeeds, in the same write as its success (e.g.
    /// `job.completed`): asked before the job runs, so a failure to work it out fails
    /// the attempt before any side effect.
    fn follow_up(
        &self,
        _job: &Self::Job,
        _record: &JobRecord,
    ) -> impl Future<Output = Result<Option<Staged>, JobError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Sends a follow-up once the success it came with is stored.
    fn dispatch(&self, _follow_up: &Staged) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// Answers a schedule's tick (EventBridge's `Scheduled Event`): a worker with
    /// `Schedule` events in the template does its periodic work here. What it did, for
    /// the log.
    fn scheduled(&self) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send {
        std::future::ready(Err(JobError::Permanent(
            "this worker has no scheduled work".into(),
        )))
    }
}

/// `MAX_RECEIVE_COUNT` must equal the queue's `maxReceiveCount` (a test checks the
/// template); `JOB_BACKOFF_SECONDS` is the first retry's delay, doubled each time; spans
/// go where `OTEL_EXPORTER_OTLP_*` say, as the edge's do.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub max_receives: u32,
    pub backoff: Duration,
    pub otlp: Option<Arc<Exporter>>,
}

impl WorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_receives: env.parse_or("MAX_RECEIVE_COUNT", 5)?,
            backoff: Duration::from_secs(env.parse_or("JOB_BACKOFF_SECONDS", 30)?),
            otlp: Exporter::from_env(env)?,
        })
    }

    /// The delay before attempt `attempt + 1`: backoff × 2^(attempt − 1), capped.
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// A queue's consumer: the harness around a [`Handler`].
#[derive(Debug)]
pub struct Worker<H> {
    jobs: JobRepo,
    usage: UsageMeter,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    config: WorkerConfig,
    handler: H,
}

impl<H: Handler> Worker<H> {
    /// A worker keeping its job records (and their owners' usage) in `table`.
    pub fn new(
        table: Table,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        config: WorkerConfig,
        handler: H,
    ) -> Self {
        Self {
            jobs: JobRepo::new(table.clone()),
            usage: UsageMeter::new(table),
            sqs,
            queue_url,
            config,
            handler,
        }
    }

    /// Serves SQS batches and scheduled events from the Lambda runtime until the process
    /// ends.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        let worker = Arc::new(self);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
            let worker = Arc::clone(&worker);
            let invocation = event
                .context
                .xray_trace_id
                .as_deref()
                .and_then(TraceHeader::parse);
            async move {
                let answer = worker.invoked(event.payload);
                match invocation {
                    Some(trace) => trace.scope(answer).await,
                    None => answer.await,
                }
            }
        }))
        .await
    }

    /// One invocation: an SQS batch, or a schedule's tick.
    pub async fn invoked(
        self: &Arc<Self>,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, lambda_runtime::Error> {
        if payload.get("detail-type").and_then(|t| t.as_str()) == Some("Scheduled Event") {
            // Boxed: the scheduled work's future is large and rarely run.
            let done = Box::pin(self.handler.scheduled()).await?;
            tracing::info!(%done, "scheduled run: {done}");
            return Ok(done);
        }
        let batch: SqsEvent = serde_json::from_value(payload)?;
        Ok(serde_json::to_value(self.process(batch).await)?)
    }

    /// Runs every message of the batch and names the ones that failed. Each message runs
    /// in its own trace: its `AWSTraceHeader` (continuing the sender's span), else the
    /// invocation's, else a new one. With an OTLP endpoint, the batch's spans are posted
    /// before it returns.
    pub async fn process(self: &Arc<Self>, event: SqsEvent) -> SqsBatchResponse {
        metrics::count_cold_start();
        let invocation = TraceHeader::current();
        let mut running = JoinSet::new();
        for message in event.records {
            let worker = Arc::clone(self);
            let id = message.message_id.clone().unwrap_or_default();
            let trace = message
                .attributes
                .get(TRACE_ATTRIBUTE)
                .and_then(|raw| TraceHeader::parse(raw))
                .or_else(|| invocation.as_ref().map(TraceHeader::child))
                .unwrap_or_else(TraceHeader::generate);
            let span = tracing::info_span!(
                "message",
                message.id = %id,
                trace_id = trace.trace_id(),
                span_id = %trace.span_id(),
                job.id = tracing::field::Empty
            );
            let consumer = self.config.otlp.is_some().then(|| trace.clone());
            let work = async move {
                let started = SystemTime::now();
                let run = async {
                    let outcome = worker.process_one(&message).await;
                    outcome.log(&id);
                    outcome.done()
                };
                let Some(consumer) = consumer else {
                    let done = run.await;
                    return (id, done, Vec::new());
                };
                let (done, mut spans) = trace::collect(run).await;
                spans.push(consumer.finish(
                    format!("{} process", worker.queue_name()),
                    SpanKind::Consumer,
                    started,
                    vec![
                        ("messaging.system", "aws_sqs".into()),
                        ("messaging.destination.name", worker.queue_name().into()),
                        ("messaging.message.id", id.as_str().into()),
                    ],
                    !done,
                ));
                (id, done, spans)
            };
            running.spawn(trace.scope(work).instrument(span));
        }
        let mut response = SqsBatchResponse::default();
        let mut spans = Vec::new();
        while let Some(done) = running.join_next().await {
            match done {
                Ok((_, true, kept)) => spans.extend(kept),
                Ok((id, false, kept)) => {
                    spans.extend(kept);
                    response.batch_item_failures.push(failure(id));
                }
                // A panicking handler: its message id is lost with the task, so the whole
                // batch must come back (an unknown identifier makes Lambda retry all).
                Err(e) => {
                    tracing::error!(error = %e, "a message handler panicked");
                    response.batch_item_failures.push(failure(String::new()));
                }
            }
        }
        if let Some(exporter) = &self.config.otlp {
            exporter.export(spans).await;
        }
        response
    }

    /// The queue's name: the last segment of its URL.
    fn queue_name(&self) -> &str {
        self.queue_url.rsplit('/').next().unwrap_or_default()
    }

    async fn process_one(&self, message: &SqsMessage) -> Outcome {
        let attempt = receive_count(message);
        let parsed = message
            .body
            .as_deref()
            .map(serde_json::from_str::<JobMessage>);
        let Some(Ok(job)) = parsed else {
            // It can never succeed; after maxReceiveCount it is in the DLQ for a human.
            return Outcome::NotAJob;
        };
        tracing::Span::current().record("job.id", job.job_id.as_str());
        let now = aloft_core::timestamp::now();
        match self.jobs.start(&job.job_id, attempt, &now).await {
            Ok(Start::Running(record)) => self.run_job(message, &record, attempt).await,
            Ok(Start::AlreadySucceeded) => Outcome::Duplicate(job),
            Ok(Start::Cancelled) => Outcome::Cancelled(job),
            Ok(Start::Missing) => Outcome::Missing(job),
            Err(e) => Outcome::NotStarted(job, e),
        }
    }

    async fn run_job(&self, message: &SqsMessage, job: &JobRecord, number: u32) -> Outcome {
        let attempt = Attempt {
            number,
            last: number >= self.config.max_receives,
        };
        let (result, follow_up) = match H::Job::from_record(job) {
            Ok(parsed) => match self.handler.follow_up(&parsed, job).await {
                Ok(follow_up) => (self.handler.handle(parsed, job, attempt).await, follow_up),
                Err(e) => (Err(e), None),
            },
            Err(e) => (Err(e), None),
        };
        let now = aloft_core::timestamp::now();
        let mut error = result.as_ref().err().map(ToString::to_string);
        let permanent = matches!(result, Err(JobError::Permanent(_)));
        let status = match &result {
            Ok(()) => JobStatus::Succeeded,
            Err(_) if attempt.last || permanent => JobStatus::Dead,
            Err(_) => JobStatus::Failed,
        };
        let metric = match status {
            JobStatus::Succeeded => "JobsSucceeded",
            JobStatus::Dead => "JobsDead",
            _ => "JobsFailed",
        };
        metrics::count(metric, ("Kind", &job.kind), 1);
        // A success brings its usage and its follow-up, written with it.
        let mut also = Vec::new();
        if status == JobStatus::Succeeded {
            if let Some(owner) = &job.user_id {
                let today = time::OffsetDateTime::now_utc().date();
                let owner = aloft_store::usage::UsageOwner::user(owner);
                match self
                    .usage
                    .add_write(&owner, BACKGROUND_JOBS, today, 1, None)
                {
                    Ok(write) => also.push(write),
                    Err(e) => {
                        tracing::warn!(job.id = %job.id, error = %e, "background job not counted")
                    }
                }
            }
            also.extend(follow_up.iter().flat_map(|f| f.writes.clone()));
        }
        let recorded = self
            .record_outcome(&job.id, status, error.as_deref(), &now, also)
            .await;
        let permanent = permanent && recorded.is_ok();
        match recorded {
            Ok(()) => {
                if let (JobStatus::Succeeded, Some(follow_up)) = (status, &follow_up) {
                    self.handler.dispatch(follow_up).await;
                }
            }
            // Unrecorded, the job would stay `running` for ever: its message comes back
            // instead, and the job runs again.
            Err(e) => {
                tracing::error!(job.id = %job.id, error = %e, "could not record the job's outcome");
                error.get_or_insert_with(|| format!("its outcome could not be recorded: {e}"));
            }
        }
        let ran = Ran {
            id: job.id.clone(),
            kind: job.kind.clone(),
            attempt: number,
            status,
        };
        let Some(error) = error else {
            return Outcome::Ran(ran, None);
        };
        if permanent {
            return Outcome::Given(ran, error);
        }
        // Back off before the next attempt; after the last one, let it go to the DLQ now.
        let delay = if attempt.last {
            Duration::ZERO
        } else {
            self.config.backoff_after(number)
        };
        if let Err(e) = self.delay(message, delay).await {
            tracing::warn!(job.id = %job.id, error = %e, "could not set the retry delay");
        }
        Outcome::Ran(ran, Some(error))
    }

    /// [`JobRepo::finish`], tried again a few times: the write is idempotent, and a job
    /// whose outcome is lost runs again.
    async fn record_outcome(
        &self,
        id: &str,
        status: JobStatus,
        error: Option<&str>,
        now: &str,
        also: Vec<aloft_store::TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match self.jobs.finish(id, status, error, now, also.clone()).await {
                Err(StoreError::Unavailable(_)) if tries < 3 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100 << tries)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn delay(&self, message: &SqsMessage, delay: Duration) -> Result<(), StoreError> {
        let Some(handle) = &message.receipt_handle else {
            return Ok(());
        };
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

/// The SQS message attribute X-Ray reads a message's trace from.
const TRACE_ATTRIBUTE: &str = "AWSTraceHeader";

fn failure(id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    failure
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = WorkerConfig {
            max_receives: 5,
            backoff: Duration::from_secs(30),
            otlp: None,
        };
        let delays: Vec<u64> = (1..=7).map(|n| config.backoff_after(n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
    }
}
