//! Webhook settings, read once per cold start. Every provider is optional: one without its
//! variables answers [`crate::Rejection::NotConfigured`]. A value that is set but unusable
//! (a Clerk secret that is not base64, an Apple root that is not a certificate) fails
//! start-up with an error that names the variable and never repeats its value.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `STRIPE_WEBHOOK_SECRET` | endpoint signing secret, `whsec_...` |
//! | `CLERK_WEBHOOK_SECRET` | Svix signing secret, `whsec_<base64>` |
//! | `SUPABASE_WEBHOOK_SECRET` | the secret the database webhook sends as a Bearer token |
//! | `APPLE_ROOT_CERT` | Apple Root CA - G3, PEM or base64 DER |
//! | `APPLE_BUNDLE_ID` | optional: refuse notifications for other apps |
//! | `GOOGLE_PUBSUB_AUDIENCE` | audience set on the push subscription; enables Google |
//! | `GOOGLE_PUBSUB_JWKS_URL` | default `https://www.googleapis.com/oauth2/v3/certs` |
//! | `GOOGLE_PUBSUB_ISSUER` | default `https://accounts.google.com` |
//! | `GOOGLE_PUBSUB_SERVICE_ACCOUNT` | required with the audience: the push token's verified `email` |
//! | `GOOGLE_PLAY_PACKAGE_NAME` | optional: refuse notifications for other apps |
//! | `WEBHOOK_TOLERANCE_SECONDS` | Stripe and Svix timestamp tolerance, default 300 |

use aloft_auth::ExternalIdpConfig;
use aloft_config::{ConfigError, Env};
use base64::{Engine, engine::general_purpose::STANDARD};
use rustls_pki_types::{CertificateDer, TrustAnchor, pem::PemObject};

const DEFAULT_TOLERANCE_SECONDS: u64 = 300;
const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// Key material that must never reach a log: `Debug` does not show it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Apple's root certificate, the only trust anchor for App Store notifications.
#[derive(Clone)]
pub struct AppleRoot(TrustAnchor<'static>);

impl AppleRoot {
    /// A certificate as PEM or as base64 of its DER bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let der = if text.starts_with("-----BEGIN") {
            CertificateDer::from_pem_slice(text.as_bytes())
                .map_err(|_| "no CERTIFICATE in the PEM text".to_owned())?
        } else {
            let compact: String = text.split_whitespace().collect();
            let bytes = STANDARD
                .decode(compact)
                .map_err(|_| "neither PEM nor base64".to_owned())?;
            CertificateDer::from(bytes)
        };
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        Ok(Self(anchor.to_owned()))
    }

    pub(crate) fn anchor(&self) -> &TrustAnchor<'static> {
        &self.0
    }
}

impl std::fmt::Debug for AppleRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppleRoot(..)")
    }
}

/// `APPLE_ROOT_CERT` and the optional `APPLE_BUNDLE_ID`.
#[derive(Debug, Clone)]
pub struct AppleConfig {
    pub root: AppleRoot,
    /// When set, notifications for any other app are refused.
    pub bundle_id: Option<String>,
}

/// `GOOGLE_PUBSUB_*` and the optional `GOOGLE_PLAY_PACKAGE_NAME`.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// Google's JWKS, issuer, and the audience set on the push subscription.
    pub idp: ExternalIdpConfig,
    /// The token's `email` must be this (verified) service account: without it, any
    /// Google-signed token for our audience (any Google Cloud project can mint one)
    /// would pass.
    pub service_account: String,
    /// When set, notifications for any other app are refused.
    pub package_name: Option<String>,
}

/// One optional setting per provider, plus the timestamp tolerance of HMAC schemes.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// `STRIPE_WEBHOOK_SECRET`: the whole `whsec_...` string is the HMAC key.
    pub stripe: Option<Secret>,
    /// `CLERK_WEBHOOK_SECRET` decoded: the bytes after `whsec_`.
    pub clerk: Option<Secret>,
    /// `SUPABASE_WEBHOOK_SECRET`: the bearer secret the database webhook sends.
    pub supabase: Option<Secret>,
    pub apple: Option<AppleConfig>,
    pub google: Option<GoogleConfig>,
    /// `WEBHOOK_TOLERANCE_SECONDS` (300): how far a signed timestamp may be from now.
    pub tolerance_seconds: u64,
}

impl InboundConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            stripe: secret(env, "STRIPE_WEBHOOK_SECRET"),
            clerk: env
                .optional("CLERK_WEBHOOK_SECRET")
                .map(|value| svix_key(value.trim()))
                .transpose()?,
            supabase: secret(env, "SUPABASE_WEBHOOK_SECRET"),
            apple: apple(env)?,
            google: google(env)?,
            tolerance_seconds: env
                .parse_or("WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?,
        })
    }
}

/// Surrounding whitespace is dropped: a secret pasted with its newline still works.
fn secret(env: &Env, name: &'static str) -> Option<Secret> {
    env.optional(name)
        .map(|value| Secret::new(value.trim().as_bytes()))
}

/// Svix signs with the base64-decoded part after `whsec_`, not with the string itself.
fn svix_key(secret: &str) -> Result<Secret, ConfigError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(Secret::new(key)),
        _ => Err(ConfigError::Invalid {
            name: "CLERK_WEBHOOK_SECRET",
            reason: "expected whsec_ followed by base64 (the signing secret Clerk shows)".into(),
        }),
    }
}

fn apple(env: &Env) -> Result<Option<AppleConfig>, ConfigError> {
    let Some(text) = env.optional("APPLE_ROOT_CERT") else {
        return Ok(None);
    };
    let root = AppleRoot::parse(&text).map_err(|reason| ConfigError::Invalid {
        name: "APPLE_ROOT_CERT",
        reason,
    })?;
    Ok(Some(AppleConfig {
        root,
        bundle_id: env.optional("APPLE_BUNDLE_ID"),
    }))
}

fn google(env: &Env) -> Result<Option<GoogleConfig>, ConfigError> {
    let Some(audience) = env.optional("GOOGLE_PUBSUB_AUDIENCE") else {
        return Ok(None);
    };
    let or_default = |name, default: &str| env.optional(name).unwrap_or_else(|| default.into());
    Ok(Some(GoogleConfig {
        idp: ExternalIdpConfig {
            jwks_url: or_default("GOOGLE_PUBSUB_JWKS_URL", GOOGLE_JWKS_URL),
            issuer: or_default("GOOGLE_PUBSUB_ISSUER", GOOGLE_ISSUER),
            audience,
        },
        service_account: env.required("GOOGLE_PUBSUB_SERVICE_ACCOUNT")?,
        package_name: env.optional("GOOGLE_PLAY_PACKAGE_NAME"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_configures_no_provider() {
        let config = InboundConfig::from_env(&Env::from_pairs([])).unwrap();
        assert!(config.stripe.is_none() && config.clerk.is_none());
        assert!(config.supabase.is_none() && config.apple.is_none());
        assert!(config.google.is_none());
        assert_eq!(config.tolerance_seconds, 300);
    }

    #[test]
    fn clerk_secret_is_the_base64_after_whsec() {
        let env = Env::from_pairs([("CLERK_WEBHOOK_SECRET", "whsec_c2VjcmV0LWtleQ==")]);
        let config = InboundConfig::from_env(&env).unwrap();
        assert_eq!(config.clerk.unwrap().expose(), b"secret-key");
    }

    #[test]
    fn clerk_secret_that_is_not_base64_names_the_variable_not_the_value() {
        let env = Env::from_pairs([("CLERK_WEBHOOK_SECRET", "whsec_not*base64!")]);
        let err = InboundConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("CLERK_WEBHOOK_SECRET"), "{err}");
        assert!(!err.contains("not*base64"), "{err}");
    }

    #[test]
    fn apple_root_is_read_from_base64_der() {
        // The first line of the fixture is Apple Root CA - G3 itself.
        let chain = include_str!("../tests/fixtures/apple-production-chain.txt");
        let root = chain.lines().next().unwrap();
        let env = Env::from_pairs([("APPLE_ROOT_CERT", root), ("APPLE_BUNDLE_ID", "com.x")]);
        let apple = InboundConfig::from_env(&env).unwrap().apple.unwrap();
        assert_eq!(apple.bundle_id.as_deref(), Some("com.x"));
    }

    #[test]
    fn apple_root_that_is_not_a_certificate_fails_start_up() {
        for value in ["%%%", "aGVsbG8=", "-----BEGIN CERTIFICATE-----\n-----END"] {
            let env = Env::from_pairs([("APPLE_ROOT_CERT", value)]);
            let err = InboundConfig::from_env(&env).unwrap_err().to_string();
            assert!(err.contains("APPLE_ROOT_CERT"), "{err}");
        }
    }

    #[test]
    fn google_needs_an_audience_and_a_service_account_and_defaults_to_google() {
        let audience = ("GOOGLE_PUBSUB_AUDIENCE", "https://api.example.com/hook");
        let err = InboundConfig::from_env(&Env::from_pairs([audience])).unwrap_err();
        assert!(
            err.to_string().contains("GOOGLE_PUBSUB_SERVICE_ACCOUNT"),
            "{err}"
        );
        let account = (
            "GOOGLE_PUBSUB_SERVICE_ACCOUNT",
            "push@p.iam.gserviceaccount.com",
        );
        let env = Env::from_pairs([audience, account]);
        let google = InboundConfig::from_env(&env).unwrap().google.unwrap();
        assert_eq!(google.idp.jwks_url, GOOGLE_JWKS_URL);
        assert_eq!(google.idp.issuer, GOOGLE_ISSUER);
        assert_eq!(google.service_account, account.1);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let env = Env::from_pairs([
            ("STRIPE_WEBHOOK_SECRET", "whsec_stripe-very-secret"),
            ("SUPABASE_WEBHOOK_SECRET", "supabase-very-secret"),
        ]);
        let shown = format!("{:?}", InboundConfig::from_env(&env).unwrap());
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
