//! The local mailbox: the emails the functions sent through SES v2, read back from the
//! emulator. moto keeps every message it accepted; `infra/local/moto_capacity.py` stamps
//! each with `sent_at` (moto records no send time) and lists them, oldest first, at
//! `GET /moto-api/ses/messages.json` in the shape of the `ses` part of moto's own model
//! dump (`/moto-api/data.json`, which dumps every model of every service and grows slow):
//!
//! ```json
//! {"ses": {"Message": [{"id": "…", "source": "no-reply@aloft.local",
//!   "destinations": {"ToAddresses": ["ann@example.com"]}, "subject": "Hello",
//!   "body": "the text part", "sent_at": "2026-01-10T12:00:00Z"}]}}
//! ```
//!
//! moto keeps no Reply-To, and the HTML part instead of the text part of a message that
//! has both (the jobs worker sends text only).
//!
//! The API front serves the mailbox at [`PATH`] ([`Mailbox::answer`]); tests read it with
//! [`Mailbox::messages`].

use std::time::Duration;

use aloft_core::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};

use crate::wire::{json_response, percent_decode, with_causes};

/// The route the API front answers itself: `GET /_local/mail[?to=<email>]`.
pub const PATH: &str = "/_local/mail";

/// Where the emulator lists the messages (added by `moto_capacity.py`).
const MESSAGES_PATH: &str = "/moto-api/ses/messages.json";

/// The list is built in memory from what moto holds: far quicker than this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One message as the emulator kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// RFC 3339, UTC; `None` from an emulator not started through `moto_capacity.py`.
    pub sent_at: Option<String>,
}

impl Mail {
    /// Whether `address` is one of the message's `To` addresses, ignoring case.
    pub fn is_to(&self, address: &str) -> bool {
        let address = address.trim().to_lowercase();
        self.to.iter().any(|to| to.trim().to_lowercase() == address)
    }

    /// The message as the mailbox route shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "sent_at": self.sent_at,
        })
    }
}

/// The messages of the emulator's list (or of a moto model dump), newest first.
pub fn parse(dump: &Value) -> Vec<Mail> {
    let Some(messages) = dump["ses"]["Message"].as_array() else {
        return Vec::new();
    };
    let string = |message: &Value, field: &str| {
        message[field]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    };
    messages
        .iter()
        .rev()
        .map(|message| Mail {
            to: message["destinations"]["ToAddresses"]
                .as_array()
                .map(|to| {
                    to.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            subject: string(message, "subject"),
            text: string(message, "body"),
            sent_at: message["sent_at"].as_str().map(str::to_owned),
        })
        .collect()
}

/// The recipient a mailbox query asks for: `to=<email>`, percent-decoded (a `+` stays a
/// `+`, as addresses have them), or `None` for every message. Any other parameter, a
/// second `to` or a `to` that is not an address is refused, with the reason.
pub fn recipient(query: &str) -> Result<Option<String>, String> {
    let mut to = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        if name != "to" {
            return Err(format!(
                "Unknown query parameter '{name}': only 'to' is accepted"
            ));
        }
        if to.is_some() {
            return Err("'to' is given more than once".into());
        }
        let value = percent_decode(value).trim().to_owned();
        if !value.contains('@') {
            return Err("'to' must be an email address".into());
        }
        to = Some(value);
    }
    Ok(to)
}

/// Why the emulator's messages could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the emulator's sent messages ({url}): {cause}")]
pub struct MailboxError {
    pub url: String,
    pub cause: String,
}

/// Reads the messages from the emulator at one URL.
#[derive(Debug, Clone)]
pub struct Mailbox {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

impl Mailbox {
    /// The mailbox of the emulator at `emulator_url` (e.g. `http://127.0.0.1:5100`).
    pub fn new(emulator_url: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: format!("{}{MESSAGES_PATH}", emulator_url.trim_end_matches('/')),
        }
    }

    /// The messages sent to `to` (ignoring case), or every message for `None`; newest
    /// first. Every test on the shared emulator sends into the same SES, so a test asks
    /// for an address of its own.
    pub async fn messages(&self, to: Option<&str>) -> Result<Vec<Mail>, MailboxError> {
        let dump = tokio::time::timeout(TIMEOUT, self.fetch())
            .await
            .map_err(|_| self.error(format!("no answer within {TIMEOUT:?}")))??;
        let mut mails = parse(&dump);
        if let Some(to) = to {
            mails.retain(|mail| mail.is_to(to));
        }
        Ok(mails)
    }

    /// The API front's answer to a request for [`PATH`] with `query`: 200
    /// `{"items": [{"to", "subject", "text", "sent_at"}]}` newest first; 400 for a query
    /// other than `to=<email>`, 405 for a method other than GET, 503 when the emulator
    /// does not answer (the API's error envelope).
    pub async fn answer(&self, method: &Method, query: Option<&str>) -> Response<Full<Bytes>> {
        let error = |e: ApiError| json_response(e.code().status(), &e.body().to_string());
        if method != Method::GET {
            let mut answer = error(ApiError::MethodNotAllowed);
            answer
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return answer;
        }
        let to = match recipient(query.unwrap_or_default()) {
            Ok(to) => to,
            Err(reason) => return error(ApiError::BadRequest(reason.into())),
        };
        match self.messages(to.as_deref()).await {
            Ok(mails) => {
                let items: Vec<Value> = mails.iter().map(Mail::to_json).collect();
                json_response(StatusCode::OK, &json!({ "items": items }).to_string())
            }
            Err(e) => {
                tracing::error!(error = %e, "mailbox unavailable");
                error(ApiError::unavailable(e.to_string()))
            }
        }
    }

    /// The emulator's list of sent messages.
    async fn fetch(&self) -> Result<Value, MailboxError> {
        let request = http::Request::get(&self.url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.error(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| self.error(with_causes(&e)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.error(with_causes(&e)))?
            .to_bytes();
        if status == StatusCode::NOT_FOUND {
            return Err(self.error(
                "not found: an emulator not started through infra/local/moto_capacity.py".into(),
            ));
        }
        if !status.is_success() {
            return Err(self.error(format!("answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| self.error(format!("not JSON: {e}")))
    }

    fn error(&self, cause: String) -> MailboxError {
        MailboxError {
            url: self.url.clone(),
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the emulator lists after two SES v2 sends (simple content).
    fn dump() -> Value {
        json!({"ses": {"EmailIdentity": [], "Message": [
            {"body": "First\nline 2", "destinations": {"ToAddresses": ["Ann@Example.com"]},
             "id": "a", "sent_at": "2026-01-10T12:00:00Z", "source": "no-reply@aloft.local",
             "subject": "Hello"},
            {"body": "Second", "destinations": {"ToAddresses": ["bob@example.com"],
             "CcAddresses": ["cc@example.com"]},
             "id": "b", "sent_at": "2026-01-10T12:00:01Z", "source": "no-reply@aloft.local",
             "subject": "Hi Bob"}
        ], "RawMessage": []}})
    }

    #[test]
    fn messages_come_newest_first_with_their_text_and_time() {
        let mails = parse(&dump());
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[0].subject, "Hi Bob");
        assert_eq!(
            mails[1].to_json(),
            json!({"to": ["Ann@Example.com"], "subject": "Hello", "text": "First\nline 2",
                   "sent_at": "2026-01-10T12:00:00Z"})
        );
        assert!(mails[1].is_to("ann@example.COM"));
        assert!(!mails[1].is_to("bob@example.com"));
        assert!(!mails[0].is_to("cc@example.com"), "To addresses only");
    }

    #[test]
    fn a_dump_without_mail_or_a_send_time_still_reads() {
        assert!(parse(&json!({"sqs": {}})).is_empty());
        let plain = json!({"ses": {"Message": [{"body": "b", "subject": "s",
            "destinations": {"ToAddresses": ["a@example.com"]}}]}});
        assert_eq!(parse(&plain)[0].to_json()["sent_at"], Value::Null);
    }

    #[test]
    fn the_query_names_one_recipient_or_none() {
        assert_eq!(recipient(""), Ok(None));
        assert_eq!(
            recipient("to=ann%40example.com"),
            Ok(Some("ann@example.com".into()))
        );
        assert_eq!(
            recipient("to=ann+1@example.com"),
            Ok(Some("ann+1@example.com".into()))
        );
        for refused in [
            "to=",
            "to=ann",
            "to=a@x.com&to=b@x.com",
            "too=a@x.com",
            "to=a@x.com&x",
        ] {
            assert!(recipient(refused).is_err(), "{refused}");
        }
    }

    #[tokio::test]
    async fn a_bad_query_or_method_is_refused_in_the_envelope() {
        // Nothing listens here: the refusals come before any read.
        let mailbox = Mailbox::new("http://127.0.0.1:9");
        let bad = mailbox.answer(&Method::GET, Some("to=nobody")).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let body = bad.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "BAD_REQUEST");
        assert_eq!(body["error"]["details"], json!({}));
        let post = mailbox.answer(&Method::POST, None).await;
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET");
        let down = mailbox.answer(&Method::GET, None).await;
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
