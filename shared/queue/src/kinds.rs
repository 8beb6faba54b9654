//! The job kinds other functions enqueue for `jobs-worker`, with their payloads: the
//! contract between producers and the worker.

use serde::{Deserialize, Serialize};

/// Sends one email.
pub const EMAIL_KIND: &str = "email.send";
/// POSTs a contact submission to the CRM (`CONTACT_WEBHOOK_URL`), signed.
pub const CONTACT_CRM_KIND: &str = "contact.crm";
/// Mails a verification link to an address, if a user with it still awaits verification.
pub const VERIFY_EMAIL_KIND: &str = "account.verify_email";
/// Mails a password-reset link to an address, if a user with a password has it. The
/// request that asks for one does the same work whether or not the address is known:
/// it queues this job; only the worker looks the address up.
pub const RESET_PASSWORD_KIND: &str = "account.reset_password";

/// The address a [`VERIFY_EMAIL_KIND`] or [`RESET_PASSWORD_KIND`] job mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMail {
    pub email: String,
}

impl AccountMail {
    /// The job of `kind` that mails `email`, on the jobs queue.
    pub fn job(kind: &str, email: &str) -> crate::NewJob {
        let payload = serde_json::json!(AccountMail {
            email: email.to_owned()
        });
        crate::NewJob::new(kind, crate::QueueName::Jobs, payload)
    }
}

/// Greets a new WebSocket connection with the `connected` event (API Gateway takes pushes
/// only after `$connect` has returned).
pub const REALTIME_CONNECTED_KIND: &str = "realtime.connected";

/// Pushes a `notification` to every open connection of one user.
pub const REALTIME_NOTIFY_KIND: &str = "realtime.notify";

/// What a [`REALTIME_NOTIFY_KIND`] job pushes, and to whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub user_id: String,
    /// The reference's `{"title", "message"}`, or any JSON the client understands.
    pub data: serde_json::Value,
}

/// The connection a [`REALTIME_CONNECTED_KIND`] job greets.
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
