//! The entry point: one [`Verifier`] per cold start, asked about each request.

use aloft_config::ConfigError;
use http::HeaderMap;

use crate::{
    AppleConfig, InboundConfig, Provider, Rejection, Secret, VerifiedEvent, apple,
    google::PubSubPush, stripe, supabase, svix,
};

/// Checks webhooks of every configured provider. `Debug` shows no key material: secrets
/// print redacted, and the Google verifier prints only its issuer.
#[derive(Debug)]
pub struct Verifier {
    stripe: Option<Secret>,
    clerk: Option<Secret>,
    supabase: Option<Secret>,
    apple: Option<AppleConfig>,
    google: Option<PubSubPush>,
    tolerance_seconds: u64,
}

impl Verifier {
    pub fn new(config: InboundConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            stripe: config.stripe,
            clerk: config.clerk,
            supabase: config.supabase,
            apple: config.apple,
            google: config.google.map(PubSubPush::new).transpose()?,
            tolerance_seconds: config.tolerance_seconds,
        })
    }

    pub fn is_configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Stripe => self.stripe.is_some(),
            Provider::Clerk => self.clerk.is_some(),
            Provider::Supabase => self.supabase.is_some(),
            Provider::Apple => self.apple.is_some(),
            Provider::Google => self.google.is_some(),
        }
    }

    /// Checks `provider`'s signature on the raw request and extracts its event.
    /// `now_unix` is the current time in unix seconds (passed in so tests can move it).
    /// Google's token expiry is the exception: [`aloft_auth::ExternalIdp`] reads the clock.
    pub async fn verify(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<VerifiedEvent, Rejection> {
        let tolerance = self.tolerance_seconds;
        match provider {
            Provider::Stripe => {
                let secret = self.stripe.as_ref().ok_or(Rejection::NotConfigured)?;
                stripe::verify(secret, tolerance, headers, body, now_unix)
            }
            Provider::Clerk => {
                let key = self.clerk.as_ref().ok_or(Rejection::NotConfigured)?;
                svix::verify(key, tolerance, headers, body, now_unix)
            }
            Provider::Supabase => {
                let secret = self.supabase.as_ref().ok_or(Rejection::NotConfigured)?;
                supabase::verify(secret, headers, body, now_unix)
            }
            Provider::Apple => {
                let config = self.apple.as_ref().ok_or(Rejection::NotConfigured)?;
                apple::verify(config, body, now_unix)
            }
            Provider::Google => {
                let push = self.google.as_ref().ok_or(Rejection::NotConfigured)?;
                push.verify(headers, body).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aloft_config::Env;

    use super::*;

    #[tokio::test]
    async fn provider_without_configuration_is_refused_as_not_configured() {
        let config = InboundConfig::from_env(&Env::from_pairs([(
            "STRIPE_WEBHOOK_SECRET",
            "whsec_only-stripe",
        )]))
        .unwrap();
        let verifier = Verifier::new(config).unwrap();
        assert!(verifier.is_configured(Provider::Stripe));
        for provider in Provider::ALL.into_iter().skip(1) {
            assert!(!verifier.is_configured(provider));
            let result = verifier.verify(provider, &HeaderMap::new(), b"{}", 0).await;
            assert_eq!(result, Err(Rejection::NotConfigured), "{provider:?}");
        }
        assert!(!format!("{verifier:?}").contains("only-stripe"));
    }
}
