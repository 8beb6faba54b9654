//! The jobs other functions enqueue for `jobs-worker`, each kind with its payload type:
//! the contract between producers and the worker. A job record keeps the kind and the
//! payload apart; [`Queued::new_job`] splits a job into them, [`Queued::from_record`]
//! joins them again, and a payload that does not parse is a permanent failure.

use aloft_store::{JobRecord, StoreError, TenantId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Fanout, JobError, NewJob, QueueName};

/// Every job of the jobs queue, tagged with its kind as stored (`email.send`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// Sends one email.
    #[serde(rename = "email.send")]
    Email(Email),
    /// POSTs a contact submission to the CRM (`CONTACT_WEBHOOK_URL`), signed.
    #[serde(rename = "contact.crm")]
    ContactCrm(ContactCrm),
    /// Mails a verification link to an address, if a user with it still awaits
    /// verification.
    #[serde(rename = "account.verify_email")]
    VerifyEmail(AccountMail),
    /// Mails a password-reset link to an address, if a user with a password has it. The
    /// request that asks for one does the same work whether or not the address is known:
    /// it queues this job; only the worker looks the address up.
    #[serde(rename = "account.reset_password")]
    ResetPassword(AccountMail),
    /// Turns one published event into one delivery per subscription.
    #[serde(rename = "webhook.fanout")]
    Fanout(Fanout),
    /// POSTs one delivery to its subscriber, signed.
    #[serde(rename = "webhook.delivery")]
    Delivery(Delivery),
    /// Greets a new WebSocket connection with the `connected` event (API Gateway takes
    /// pushes only after `$connect` has returned).
    #[serde(rename = "realtime.connected")]
    RealtimeConnected(Greeting),
    /// Pushes a `notification` to every open connection of one user.
    #[serde(rename = "realtime.notify")]
    RealtimeNotify(Notification),
    /// Closes open WebSocket connections of one user whose credential was switched off:
    /// all of them after a deactivation, those of one impersonation session after
    /// `stop`. Made by [`Job::disconnect_user`] and [`Job::disconnect_impersonation`].
    #[serde(rename = "realtime.disconnect")]
    RealtimeDisconnect(Disconnect),
    /// Mints an organization invitation's link and mails it, unless it was revoked.
    #[serde(rename = "organization.invitation")]
    Invitation(InvitationMail),
}

impl Queued for Job {
    const QUEUE: QueueName = QueueName::Jobs;
}

impl Job {
    /// The job that closes every open WebSocket connection of `user_id`: enqueued with
    /// a deactivation (`aloft_auth::Deactivation` cannot reach the queue). The system's
    /// work, not counted as the user's.
    pub fn disconnect_user(user_id: &str) -> Result<NewJob, StoreError> {
        Self::disconnect(user_id, None)
    }

    /// The job that closes the connections opened with the impersonation token of
    /// `session` (its `jti`), acting as `user_id`: enqueued by `stop`.
    pub fn disconnect_impersonation(user_id: &str, session: &str) -> Result<NewJob, StoreError> {
        Self::disconnect(user_id, Some(session.to_owned()))
    }

    fn disconnect(
        user_id: &str,
        impersonation_session: Option<String>,
    ) -> Result<NewJob, StoreError> {
        Job::RealtimeDisconnect(Disconnect {
            user_id: user_id.to_owned(),
            impersonation_session,
        })
        .new_job()
    }
}

/// A queue's jobs: an enum tagged `kind`, its payload in `payload`.
pub trait Queued: Serialize + DeserializeOwned + Send {
    /// The queue every job of this type travels on.
    const QUEUE: QueueName;

    /// The job to enqueue, with a fresh, time-ordered id, done for the system (no user).
    fn new_job(&self) -> Result<NewJob, StoreError> {
        let invalid =
            |e: serde_json::Error| StoreError::Other(format!("job not serializable: {e}"));
        let Stored { kind, payload } =
            serde_json::from_value(serde_json::to_value(self).map_err(invalid)?)
                .map_err(invalid)?;
        Ok(NewJob {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            queue: Self::QUEUE,
            payload,
            user_id: None,
        })
    }

    /// The job `record` holds. A kind this queue does not run, or a payload that is not
    /// the kind's, can never succeed: a permanent failure naming why.
    fn from_record(record: &JobRecord) -> Result<Self, JobError> {
        let payload: serde_json::Value = serde_json::from_str(&record.payload).map_err(|e| {
            JobError::Permanent(format!("{} payload is not JSON: {e}", record.kind))
        })?;
        let stored = serde_json::json!({"kind": record.kind, "payload": payload});
        serde_json::from_value(stored)
            .map_err(|e| JobError::Permanent(format!("not a {} job: {e}", record.kind)))
    }
}

/// A job as its record keeps it.
#[derive(Deserialize)]
struct Stored {
    kind: String,
    payload: serde_json::Value,
}

/// The invitation a [`Job::Invitation`] mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationMail {
    pub tenant_id: String,
    pub invitation_id: String,
}

/// The address a [`Job::VerifyEmail`] or [`Job::ResetPassword`] mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMail {
    pub email: String,
}

/// What a [`Job::RealtimeNotify`] pushes, and to whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub user_id: String,
    /// The reference's `{"title", "message"}`, or any JSON the client understands.
    pub data: serde_json::Value,
}

/// Whose connections a [`Job::RealtimeDisconnect`] closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    pub user_id: String,
    /// Only those opened with this impersonation session (the token's `jti`); `None`:
    /// every connection of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonation_session: Option<String>,
}

/// The connection a [`Job::RealtimeConnected`] greets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    pub connection_id: String,
}

/// A plain-text email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// Where the CRM webhook goes and its body (the reference's `contact.submitted` format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactCrm {
    pub url: String,
    pub reference_id: String,
    pub body: serde_json::Value,
}

/// The delivery a [`Job::Delivery`] sends (its record holds the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: TenantId,
    pub subscription_id: String,
    pub delivery_id: String,
}
