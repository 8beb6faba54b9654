//! Inbound webhooks: each provider's own signature scheme checked on the raw request, and
//! the event it carries reduced to one shape, [`VerifiedEvent`].
//!
//! | provider | scheme |
//! | --- | --- |
//! | Stripe | `Stripe-Signature`: HMAC-SHA256 over `"{t}.{body}"`, timestamp tolerance |
//! | Clerk | Svix: `svix-id`/`svix-timestamp`/`svix-signature`, HMAC-SHA256, tolerance |
//! | Supabase | database webhook with a shared `Authorization: Bearer` secret |
//! | Apple | App Store Server Notifications v2: ES256 JWS whose `x5c` chains to Apple's root |
//! | Google | Play RTDN through a Pub/Sub push: Google-signed OIDC token, then the message |
//!
//! A pure library: configuration comes from the environment once per cold start
//! ([`InboundConfig::from_env`], [`Verifier::new`]); only Google's key set is fetched over
//! the network, by [`aloft_auth::ExternalIdp`]. Tests: `cargo test -p aloft-inbound`.

mod apple;
mod config;
mod google;
mod request;
mod shared_secret;
mod stripe;
mod supabase;
mod svix;
mod verifier;
mod x5c;

use serde::{Deserialize, Serialize};

pub use config::{AppleConfig, AppleRoot, GoogleConfig, InboundConfig, Secret};
pub use verifier::Verifier;

/// Who sent a webhook; the path segment of its endpoint (`/webhooks/{provider}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Stripe,
    Clerk,
    Supabase,
    Apple,
    Google,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Stripe,
        Provider::Clerk,
        Provider::Supabase,
        Provider::Apple,
        Provider::Google,
    ];

    /// The provider named by a path segment (`"stripe"`), if any.
    pub fn parse(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == segment)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Clerk => "clerk",
            Provider::Supabase => "supabase",
            Provider::Apple => "apple",
            Provider::Google => "google",
        }
    }
}

/// An event whose signature checked out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerifiedEvent {
    pub provider: Provider,
    /// The provider's event id: the key that makes redeliveries idempotent.
    pub id: String,
    /// The event type (`checkout.session.completed`, `user.created`, `INSERT`,
    /// `SUBSCRIBED`, `SUBSCRIPTION_PURCHASED`).
    pub kind: String,
    /// Unix seconds when the provider created the event; orders events of one subject.
    pub created: i64,
    /// The verified event body (for Apple and Google, the decoded notification).
    pub payload: serde_json::Value,
}

/// The jobs of the webhooks queue: a verified event for `webhook-worker` to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum ProviderJob {
    #[serde(rename = "provider.event")]
    Event(VerifiedEvent),
}

impl aloft_queue::Queued for ProviderJob {
    const QUEUE: aloft_queue::QueueName = aloft_queue::QueueName::Webhooks;
}

/// Why a webhook was refused. Messages name what is wrong, never a secret or the body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("webhooks from this provider are not configured")]
    NotConfigured,
    #[error("the webhook is not signed: {0} is missing")]
    MissingSignature(&'static str),
    #[error("the webhook signature does not verify")]
    BadSignature,
    #[error("the webhook signature is outside its validity window")]
    Stale,
    #[error("malformed webhook: {0}")]
    Malformed(String),
}

impl Rejection {
    fn malformed(reason: &str) -> Self {
        Rejection::Malformed(reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_round_trip_through_their_path_segment() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
            let json = serde_json::to_string(&provider).unwrap();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
        }
        assert_eq!(Provider::parse("paypal"), None);
        assert_eq!(Provider::parse("Stripe"), None);
    }
}
