//! Signed outgoing webhooks: `X-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "t.body">`, the scheme Stripe uses, so receivers can reuse their verifiers. One
//! sender for subscription deliveries and the contact form's CRM webhook.

use std::time::Duration;

use aloft_queue::TargetPolicy;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{Method, Request};
use http_body_util::Full;
use sha2::Sha256;

/// A receiver that has not answered by then has failed this attempt.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature header of `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length; the error case cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One signed POST.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub id: &'a str,
    pub event: &'a str,
    pub body: &'a str,
    /// More headers, e.g. `X-Reference-Id`.
    pub extra: &'a [(&'static str, &'a str)],
}

/// Sends webhooks over HTTPS (HTTP too on the local stack).
#[derive(Clone)]
pub struct Sender {
    client: aloft_outbound::Client,
    policy: TargetPolicy,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Sender {
    /// Off the local stack, the client connects only to globally reachable addresses,
    /// checked on the addresses it connects to.
    pub fn new(policy: TargetPolicy) -> Self {
        let client = if policy.allow_private {
            aloft_outbound::Client::new(DELIVERY_TIMEOUT)
        } else {
            aloft_outbound::Client::restricted(DELIVERY_TIMEOUT, aloft_queue::is_global)
        };
        Self { client, policy }
    }

    /// Signs and sends; the receiver's status code, or why there is none.
    pub async fn send(&self, out: &Outgoing<'_>, now: i64) -> Result<u16, String> {
        let uri = self.policy.check_url(out.url)?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("content-type", "application/json")
            .header("user-agent", "Aloft-Webhooks/1")
            .header("x-webhook-signature", signature(out.secret, now, out.body))
            .header("x-webhook-id", out.id)
            .header("x-webhook-event", out.event);
        for (name, value) in out.extra {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(out.body.as_bytes())))
            .map_err(|e| format!("bad request: {e}"))?;
        match self.client.send(request, DELIVERY_TIMEOUT).await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(format!("the receiver gave no answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer: HMAC-SHA256(key "secret", "1700000000.{}").
        let header = signature("secret", 1_700_000_000, "{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"1700000000.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[tokio::test]
    async fn deployed_deliveries_never_connect_to_a_name_that_resolves_to_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sender = Sender::new(TargetPolicy {
            allow_private: false,
        });
        // Past the URL check (which refuses `localhost` by name, but not a public name
        // rebound to 127.0.0.1), the client checks the addresses it resolved itself.
        let request = Request::get(format!("http://localhost:{port}/"))
            .body(Full::default())
            .unwrap();
        let error = sender
            .client
            .send(request, DELIVERY_TIMEOUT)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("may not be called"), "{error}");
    }
}
