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
//!
//! Failures are retried with exponential backoff by the harness; deliveries record
//! every attempt, so a subscriber sees `failed` and finally `dead` in its list. A job done
//! for a user (an email or CRM webhook of theirs, not the event bus's own fan-outs,
//! deliveries and pushes) publishes `job.completed` when it succeeds.

mod account;
mod deliveries;
mod mail;
mod outgoing;

use aloft_config::{ConfigError, Env};
use aloft_queue::{
    Attempt, CONTACT_CRM_KIND, EMAIL_KIND, Email, Event, FANOUT_KIND, Greeting, Handler,
    Notification, Producer, Publisher, QueueName, QueueUrls, REALTIME_CONNECTED_KIND,
    REALTIME_NOTIFY_KIND, RESET_PASSWORD_KIND, TargetPolicy, VERIFY_EMAIL_KIND, Worker,
    WorkerConfig,
};
use aloft_realtime::{Broadcaster, Push};
use aloft_store::{
    AwsClients, AwsSettings, Connections, JobRecord, JobRepo, Table, TenantId, UsageMeter,
    UserRepo, WebhookRepo, usage::EMAIL_SENT,
};
use serde::Deserialize;

pub use account::AccountLinks;
pub use deliveries::{DELIVERY_KIND, Delivery};
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
}

impl Handler for Jobs {
    async fn handle(&self, job: &JobRecord, attempt: Attempt) -> Result<(), String> {
        let done = self.run(job, attempt).await;
        if done.is_ok() && matches!(job.kind.as_str(), EMAIL_KIND | CONTACT_CRM_KIND) {
            self.completed(job).await;
        }
        done
    }
}

impl Jobs {
    async fn run(&self, job: &JobRecord, attempt: Attempt) -> Result<(), String> {
        match job.kind.as_str() {
            EMAIL_KIND => {
                let email: Email = payload(job)?;
                self.send_email(&email, job.user_id.as_deref()).await
            }
            VERIFY_EMAIL_KIND | RESET_PASSWORD_KIND => account::mail(self, job).await,
            CONTACT_CRM_KIND => deliveries::contact_crm(self, job).await,
            FANOUT_KIND => deliveries::fan_out(self, job).await,
            DELIVERY_KIND => deliveries::deliver(self, job, attempt).await,
            REALTIME_CONNECTED_KIND => {
                let greeting: Greeting = payload(job)?;
                self.realtime()?
                    .greet(&greeting.connection_id)
                    .await
                    .map(drop)
            }
            REALTIME_NOTIFY_KIND => {
                let notification: Notification = payload(job)?;
                let realtime = self.realtime()?;
                let channel = format!("user:{}", notification.user_id);
                let event = aloft_realtime::event::notification(&notification.data);
                let now = u64::try_from(unix_now()).unwrap_or(0);
                realtime
                    .to_channel(&channel, &event, None, now)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("unknown job kind '{other}'")),
        }
    }

    /// `job.completed` to the tenant's webhooks and the user's channel, for a job done
    /// for a user. The job has succeeded: a failure to announce it is logged.
    async fn completed(&self, job: &JobRecord) {
        let Some(user_id) = &job.user_id else {
            return;
        };
        let user = match self.users.get(user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error.cause = %e, job.id = %job.id, "job.completed not published");
                return;
            }
        };
        let data = serde_json::json!({
            "job_id": job.id,
            "kind": job.kind,
            "completed_at": aloft_core::timestamp::now(),
        });
        let tenant = TenantId::new(user.tenant_id);
        let channels = vec![format!("user:{user_id}")];
        self.publisher
            .announce(Event::JobCompleted, &tenant, data, channels)
            .await;
    }
}

impl Jobs {
    /// Sends `email`, counted in the usage of `owner` (if any).
    async fn send_email(&self, email: &Email, owner: Option<&str>) -> Result<(), String> {
        self.mailer.send(email).await?;
        if let Some(owner) = owner {
            self.usage.record(owner, EMAIL_SENT, 1, None).await;
        }
        Ok(())
    }
}

fn payload<T: for<'de> Deserialize<'de>>(job: &JobRecord) -> Result<T, String> {
    serde_json::from_str(&job.payload).map_err(|e| format!("bad {} payload: {e}", job.kind))
}

fn unix_now() -> i64 {
    i64::try_from(aloft_core::timestamp::unix_now()).unwrap_or(i64::MAX)
}

impl Jobs {
    fn realtime(&self) -> Result<&Broadcaster, String> {
        self.realtime
            .as_ref()
            .ok_or_else(|| "WEBSOCKET_MANAGEMENT_URL is not set".into())
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
