//! The email port: Amazon SES v2, from `MAIL_FROM`, on every stage. On the local stack the
//! emulator's SES keeps what is sent (the watch env sets `MAIL_FROM`, the bootstrap
//! verifies it there), and the API front shows it at `/_local/mail`.

use std::sync::{Arc, OnceLock};

use aloft_config::Env;
use aloft_queue::Email;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

#[derive(Debug, Clone)]
pub enum Mailer {
    /// Amazon SES v2, from `MAIL_FROM` (a verified identity).
    Ses {
        /// Built on the first email, not at cold start: most invocations send none.
        client: Arc<OnceLock<aws_sdk_sesv2::Client>>,
        sdk: Box<aws_config::SdkConfig>,
        from: String,
    },
    /// No `MAIL_FROM`: email jobs fail (and wait, dead, for a retry once it is set)
    /// instead of the function failing to start.
    Unconfigured,
}

impl Mailer {
    /// SES from `MAIL_FROM`, or [`Mailer::Unconfigured`] without it.
    pub fn from_env(env: &Env, sdk: &aws_config::SdkConfig) -> Self {
        match env.optional("MAIL_FROM") {
            Some(from) => Mailer::Ses {
                client: Arc::default(),
                sdk: Box::new(sdk.clone()),
                from,
            },
            None => Mailer::Unconfigured,
        }
    }

    /// Sends `email` as one simple (text) message.
    pub async fn send(&self, email: &Email) -> Result<(), String> {
        let Mailer::Ses { client, sdk, from } = self else {
            return Err("MAIL_FROM is not set: no email can be sent".into());
        };
        let client = client.get_or_init(|| aws_sdk_sesv2::Client::new(sdk));
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
}
