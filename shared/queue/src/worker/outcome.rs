//! What became of one message, and its one log line.

use aloft_http::TraceHeader;
use aloft_store::{JobStatus, StoreError};

use crate::JobMessage;

/// A job that ran.
#[derive(Debug)]
pub(super) struct Ran {
    pub id: String,
    pub kind: String,
    pub attempt: u32,
    pub status: JobStatus,
}

#[derive(Debug)]
pub(super) enum Outcome {
    NotAJob,
    /// A duplicate delivery of a job that already succeeded.
    Duplicate(JobMessage),
    /// The job was cancelled by an admin while queued: not run, its message deleted.
    Cancelled(JobMessage),
    /// No record: never created, or expired.
    Missing(JobMessage),
    NotStarted(JobMessage, StoreError),
    /// The job ran; `Some(error)` if it failed.
    Ran(Ran, Option<String>),
    /// The job can never succeed: dead at once, its message deleted.
    Given(Ran, String),
}

impl Outcome {
    /// `true` when the message is done with (delete it).
    pub(super) fn done(&self) -> bool {
        matches!(
            self,
            Outcome::Duplicate(_)
                | Outcome::Cancelled(_)
                | Outcome::Ran(_, None)
                | Outcome::Given(..)
        )
    }

    /// The message's one log line, with the trace id it ran in (the message's span has
    /// it too, but a line found alone should name it).
    pub(super) fn log(&self, message_id: &str) {
        let trace = TraceHeader::current();
        let trace_id = trace.as_ref().map(TraceHeader::trace_id);
        match self {
            Outcome::NotAJob => tracing::error!(
                trace_id,
                message.id = message_id,
                "message {message_id} is not a job message"
            ),
            Outcome::Duplicate(job) => tracing::info!(
                trace_id,
                job.id = %job.job_id,
                job.kind = %job.kind,
                "job {} ({}): duplicate delivery of a finished job",
                job.job_id,
                job.kind
            ),
            Outcome::Cancelled(job) => tracing::info!(
                trace_id,
                job.id = %job.job_id,
                job.kind = %job.kind,
                "job {} ({}): cancelled, not run",
                job.job_id,
                job.kind
            ),
            Outcome::Missing(job) => tracing::error!(
                trace_id,
                job.id = %job.job_id,
                job.kind = %job.kind,
                "job {} ({}): no record for this job",
                job.job_id,
                job.kind
            ),
            Outcome::NotStarted(job, e) => tracing::warn!(
                trace_id,
                job.id = %job.job_id,
                job.kind = %job.kind,
                error = %e,
                "job {} ({}) could not start: {e}",
                job.job_id,
                job.kind
            ),
            Outcome::Ran(job, None) => tracing::info!(
                trace_id,
                job.id = %job.id,
                job.kind = %job.kind,
                attempt = job.attempt,
                status = job.status.as_str(),
                "job {} ({}) succeeded on attempt {}",
                job.id,
                job.kind,
                job.attempt
            ),
            Outcome::Ran(job, Some(e)) | Outcome::Given(job, e) => tracing::warn!(
                trace_id,
                job.id = %job.id,
                job.kind = %job.kind,
                attempt = job.attempt,
                status = job.status.as_str(),
                error = %e,
                "job {} ({}) {} on attempt {}: {e}",
                job.id,
                job.kind,
                job.status.as_str(),
                job.attempt
            ),
        }
    }
}
