//! `jobs-worker`: runs the jobs queue.
//!
//! | kind | does |
//! |---|---|
//! | `email.send` | sends one email through the mail port (SES v2; the emulator's locally) |
//! | `contact.crm` | POSTs a contact submission to `CONTACT_WEBHOOK_URL`, signed |
//! | `webhook.fanout` | one delivery per subscription to a published event |
//! | `webhook.delivery` | POSTs one delivery to its subscriber, signed |
//! | `realtime.connected` | greets a new WebSocket connection with `connected` |
//! | `realtime.notify` | pushes a `notification` to every open connection of one user |
//! | `realtime.disconnect` | closes a deactivated user's connections, or an impersonation session's |
//! | `account.verify_email`, `account.reset_password` | mints a single-use link and mails it |
//! | `organization.invitation` | mints an invitation's single-use link and mails it |
//!
//! On its schedule (every minute) it relays stored jobs whose messages were not sent
//! (`Producer::relay`, the outbox's relay) and removes uploads never confirmed (object,
//! then record) once given up.
//!
//! Failures are retried with exponential backoff by the harness; deliveries record
//! every attempt, so a subscriber sees `failed` and finally `dead` in its list. A job done
//! for a user (an email or CRM webhook of theirs, not the event bus's own fan-outs,
//! deliveries and pushes) publishes `job.completed` when it succeeds.

mod account;
mod deliveries;
mod disconnect;
mod invitation;
mod mail;
mod outgoing;

use aloft_config::{ConfigError, Env};
use aloft_queue::{
    Attempt, Email, Event, Handler, Job, JobError, Producer, Publisher, QueueName, QueueUrls,
    Staged, TargetPolicy, Worker, WorkerConfig,
};
use aloft_realtime::{Broadcaster, Push};
use aloft_store::{
    AwsClients, AwsSettings, Connections, FileRepo, JobRecord, JobRepo, Objects, OrganizationRepo,
    Purpose, Table, TenantId, UsageMeter, UserRepo, WebhookRepo, usage::EMAIL_SENT,
};

pub use account::AccountLinks;
pub use mail::Mailer;
pub use outgoing::{Outgoing, Sender, signature};

/// Everything the jobs need.
#[derive(Debug, Clone)]
pub struct Jobs {
    pub webhooks: WebhookRepo,
    pub producer: Producer,
    pub sender: Sender,
    pub mailer: Mailer,
    pub usage: UsageMeter,
    /// `CONTACT_WEBHOOK_SECRET`: signs the CRM webhook.
    pub contact_secret: Option<String>,
    /// Pushes to WebSocket connections; `None` without `WEBSOCKET_MANAGEMENT_URL`.
    pub realtime: Option<Broadcaster>,
    /// `job.completed` for the users jobs are done for (their tenant from their record).
    pub publisher: Publisher,
    pub users: UserRepo,
    /// Verification and reset links.
    pub account: AccountLinks,
    /// Organization invitations.
    pub organizations: OrganizationRepo,
    /// The outbox's relay: sends any stored job's message, whichever its queue.
    pub relay: Producer,
    /// Uploads never confirmed, and their objects (`BUCKET_NAME`).
    pub files: FileRepo,
    pub objects: Objects,
}

impl Handler for Jobs {
    type Job = Job;

    async fn handle(&self, job: Job, record: &JobRecord, attempt: Attempt) -> Result<(), JobError> {
        self.run(job, record, attempt).await
    }

    /// A job done for a user (an email or CRM webhook of theirs, not the event bus's own
    /// work) announces `job.completed` to their tenant, stored with its success.
    async fn follow_up(&self, job: &Job, record: &JobRecord) -> Result<Option<Staged>, JobError> {
        let (Job::Email(_) | Job::ContactCrm(_), Some(user_id)) = (job, &record.user_id) else {
            return Ok(None);
        };
        let Some(user) = self.users.get(user_id).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let data = serde_json::json!({
            "job_id": record.id,
            "kind": record.kind,
            "completed_at": aloft_core::timestamp::now(),
        });
        let tenant = TenantId::new(user.tenant_id);
        let channels = vec![format!("user:{user_id}")];
        let staged = self
            .publisher
            .stage(Event::JobCompleted, &tenant, data, channels)
            .map_err(|e| e.to_string())?;
        Ok(Some(staged))
    }

    async fn dispatch(&self, follow_up: &Staged) {
        self.publisher.dispatch(follow_up).await;
    }

    async fn scheduled(&self) -> Result<serde_json::Value, JobError> {
        let relayed = self.relay.relay(aloft_queue::RELAY_AFTER).await;
        let swept = self.sweep_uploads().await;
        Ok(serde_json::json!({
            "relayed": relayed.map_err(|e| JobError::Retryable(e.to_string()))?,
            "uploads_removed": swept.map_err(|e| JobError::Retryable(e.to_string()))?,
        }))
    }
}

/// The most abandoned uploads one scheduled run removes.
const SWEEP_BATCH: usize = 100;

impl Jobs {
    /// Removes the uploads given up by now: the object first, so a failure leaves the
    /// record for the next run to find again.
    async fn sweep_uploads(&self) -> Result<usize, aloft_store::StoreError> {
        let now = aloft_core::timestamp::unix_now();
        let mut removed = 0;
        for (tenant, file) in self.files.abandoned(now, SWEEP_BATCH).await? {
            self.objects.delete(&file.key).await?;
            if self.files.remove_pending(&tenant, &file.id).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Jobs {
    async fn run(&self, job: Job, record: &JobRecord, attempt: Attempt) -> Result<(), JobError> {
        match job {
            Job::Email(email) => self.send_email(&email, record.user_id.as_deref()).await,
            Job::VerifyEmail(mail) => account::mail(self, Purpose::VerifyEmail, &mail).await,
            Job::ResetPassword(mail) => account::mail(self, Purpose::ResetPassword, &mail).await,
            Job::ContactCrm(crm) => deliveries::contact_crm(self, &crm, record).await,
            Job::Fanout(fanout) => deliveries::fan_out(self, &fanout, record).await,
            Job::Delivery(target) => deliveries::deliver(self, &target, attempt).await,
            Job::Invitation(mail) => invitation::mail(self, &mail).await,
            Job::RealtimeConnected(greeting) => Ok(self
                .realtime()?
                .greet(&greeting.connection_id)
                .await
                .map(drop)?),
            Job::RealtimeDisconnect(who) => {
                disconnect::close(self, &who.user_id, who.impersonation_session.as_deref()).await
            }
            Job::RealtimeNotify(notification) => {
                let realtime = self.realtime()?;
                let channel = format!("user:{}", notification.user_id);
                let event = aloft_realtime::event::notification(&notification.data);
                let now = u64::try_from(unix_now()).unwrap_or(0);
                realtime
                    .to_channel(&channel, &event, None, now)
                    .await
                    .map(drop)
                    .map_err(|e| JobError::Retryable(e.to_string()))
            }
        }
    }
}

impl Jobs {
    /// Sends `email`, counted in the usage of `owner` (if any).
    async fn send_email(&self, email: &Email, owner: Option<&str>) -> Result<(), JobError> {
        self.mailer.send(email).await?;
        if let Some(owner) = owner {
            self.usage.record(owner, EMAIL_SENT, 1, None).await;
        }
        Ok(())
    }
}

fn unix_now() -> i64 {
    i64::try_from(aloft_core::timestamp::unix_now()).unwrap_or(i64::MAX)
}

impl Jobs {
    /// Without `WEBSOCKET_MANAGEMENT_URL` no push can succeed.
    pub(crate) fn realtime(&self) -> Result<&Broadcaster, JobError> {
        self.realtime
            .as_ref()
            .ok_or_else(|| JobError::Permanent("WEBSOCKET_MANAGEMENT_URL is not set".into()))
    }

    pub fn from_env(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let urls = QueueUrls::from_env(env, &[QueueName::Jobs])?;
        let sender = Sender::new(TargetPolicy::from_env(env)?);
        let producer = Producer::new(aws, JobRepo::new(table.clone()), urls);
        Ok(Self {
            webhooks: WebhookRepo::new(table.clone()),
            publisher: Publisher::new(producer.clone()),
            users: UserRepo::new(table.clone()),
            account: AccountLinks::from_env(env, table)?,
            organizations: OrganizationRepo::new(table.clone()),
            relay: Producer::new(
                aws,
                JobRepo::new(table.clone()),
                QueueUrls::from_env(env, &[QueueName::Jobs, QueueName::Webhooks])?,
            ),
            files: FileRepo::new(table.clone()),
            objects: Objects::new(aws, env.required("BUCKET_NAME")?),
            producer,
            sender,
            mailer: Mailer::from_env(env, &aws.sdk),
            usage: UsageMeter::new(table.clone()),
            contact_secret: env.optional("CONTACT_WEBHOOK_SECRET"),
            realtime: env.optional("WEBSOCKET_MANAGEMENT_URL").map(|url| {
                Broadcaster::new(
                    Push::new(&aws.sdk, &url),
                    Connections::new(table.clone()),
                    UsageMeter::new(table.clone()),
                )
            }),
        })
    }
}

/// The worker of the jobs queue, from the environment.
pub async fn worker(env: &Env) -> Result<Worker<Jobs>, ConfigError> {
    let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
    let table = Table::new(aws.dynamodb.clone(), env.required("TABLE_NAME")?);
    let jobs = Jobs::from_env(env, &aws, &table)?;
    Ok(Worker::new(
        table,
        aws.sqs(),
        env.required("JOBS_QUEUE_URL")?,
        WorkerConfig::from_env(env)?,
        jobs,
    ))
}
