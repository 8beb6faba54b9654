//! The email port: SES in the cloud, an outbox directory on the local stack (each message
//! a JSON file, for people and tests to read).

use std::path::PathBuf;

use aloft_config::{ConfigError, Env, Stage};
use aloft_queue::Email;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

#[derive(Debug, Clone)]
pub enum Mailer {
    /// Amazon SES v2, from `MAIL_FROM`.
    Ses {
        client: aws_sdk_sesv2::Client,
        from: String,
    },
    /// Writes `<dir>/<id>.json`.
    Outbox { dir: PathBuf },
    /// A deployed stage without `MAIL_FROM`: email jobs fail (and wait, dead, for a
    /// retry once it is set) instead of the function failing to start.
    Unconfigured,
}

impl Mailer {
    /// `MAIL_TRANSPORT` = `ses` or `outbox` (default: `outbox` on the local stack, else
    /// `ses`); `MAIL_FROM` for SES; `MAIL_OUTBOX_DIR` (default `.local/outbox`).
    pub fn from_env(env: &Env, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let default = match Stage::from_env(env) {
            Stage::Local => "outbox",
            Stage::Deployed => "ses",
        };
        match env.optional("MAIL_TRANSPORT").as_deref().unwrap_or(default) {
            "ses" => Ok(match env.optional("MAIL_FROM") {
                Some(from) => Mailer::Ses {
                    client: aws_sdk_sesv2::Client::new(sdk),
                    from,
                },
                None => Mailer::Unconfigured,
            }),
            "outbox" => Ok(Mailer::Outbox {
                dir: env
                    .optional("MAIL_OUTBOX_DIR")
                    .unwrap_or_else(|| ".local/outbox".into())
                    .into(),
            }),
            other => Err(ConfigError::Invalid {
                name: "MAIL_TRANSPORT",
                reason: format!("'{other}' is neither ses nor outbox"),
            }),
        }
    }

    /// Sends `email`; `id` (the job's) names the outbox file, so a retry rewrites it.
    pub async fn send(&self, id: &str, email: &Email) -> Result<(), String> {
        match self {
            Mailer::Ses { client, from } => {
                let content = |text: &str| {
                    Content::builder()
                        .data(text)
                        .charset("UTF-8")
                        .build()
                        .map_err(|e| e.to_string())
                };
                let message = Message::builder()
                    .subject(content(&email.subject)?)
                    .body(Body::builder().text(content(&email.text)?).build())
                    .build();
                client
                    .send_email()
                    .from_email_address(from)
                    .destination(Destination::builder().to_addresses(&email.to).build())
                    .set_reply_to_addresses(email.reply_to.clone().map(|r| vec![r]))
                    .content(EmailContent::builder().simple(message).build())
                    .send()
                    .await
                    .map_err(|e| format!("SES: {}", aloft_store::StoreError::from_sdk(e)))?;
                Ok(())
            }
            Mailer::Unconfigured => Err("MAIL_FROM is not set: no email can be sent".into()),
            Mailer::Outbox { dir } => {
                let json = serde_json::to_vec_pretty(email).map_err(|e| e.to_string())?;
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("outbox {}: {e}", dir.display()))?;
                let file: String = id
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                tokio::fs::write(dir.join(format!("{file}.json")), json)
                    .await
                    .map_err(|e| format!("outbox {}: {e}", dir.display()))
            }
        }
    }
}
