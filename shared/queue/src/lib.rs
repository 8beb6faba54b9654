//! The async backbone: jobs on SQS. A producer stores a job record and sends its id; a
//! worker harness runs each message of a batch, keeps the record's status and attempts,
//! backs failures off through the message's visibility timeout and reports only the
//! failed messages (`batchItemFailures`), so the rest of the batch is deleted. After the
//! queue's `maxReceiveCount` the message moves to the dead-letter queue and its job is
//! `dead`, until an admin retries it. A message carries the trace of the work that
//! enqueued it (`AWSTraceHeader`); the worker runs it, and logs it, in that trace.

mod events;
mod kinds;
mod producer;
mod targets;
mod worker;

pub use events::{Event, Fanout, Publisher};
pub use kinds::{
    AccountMail, ContactCrm, Delivery, Email, Greeting, InvitationMail, Job, Notification, Queued,
};
pub use producer::{JobMessage, NewJob, Producer, QueueName, QueueUrls, RELAY_AFTER, Staged};
pub use targets::{TargetPolicy, is_global};
pub use worker::{Attempt, Handler, JobError, Worker, WorkerConfig};
