//! Test support (dev-dependency only): the local emulator, fresh resources per test from
//! `template.yaml`, and real signed tokens.
//!
//! Integration tests call [`TestEnv::new`] and get their own table, bucket and queues on
//! the shared emulator (`ALOFT_EMULATOR_URL`, started by `make test`), so tests run in
//! parallel without seeing each other's data. [`PrivateEmulator`] starts a separate
//! emulator a test may stop, to see how the code behaves when AWS is down.
#![expect(
    clippy::expect_used,
    reason = "test set-up: failing loudly with a message is the point"
)]

pub mod connections;
mod emulator;
pub mod fake_ai;
pub mod fake_ssm;
pub mod fake_stripe;
pub mod idp;
pub mod oneshot;
pub mod receiver;
mod tokens;

pub use emulator::{PrivateEmulator, emulator_url};
pub use tokens::{
    TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, auth_config, expired_token_for, token_as_member,
    token_for, token_in_tenant,
};

use aloft_config::Env;
use aloft_provision::{LOCAL_MAIL_FROM, Provisioned, Template, provision, verify_sender};
use aloft_store::{AwsClients, AwsSettings};

/// Rate windows are whole minutes. When less than half of this one is left, waits for the
/// next, so a test's burst of requests (slow ones in a debug build: an argon2
/// verification each) is counted in a single window.
pub async fn early_in_a_rate_window() {
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() % 60);
    if into_minute > 30 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - into_minute)).await;
    }
}

/// A stored user `id` (role `user`, free plan, own tenant `tenant-<id>`), for tests that
/// need one in the table.
pub fn user_record(id: &str) -> aloft_store::UserRecord {
    aloft_store::UserRecord {
        id: id.to_owned(),
        email: format!("{id}@example.com"),
        full_name: Some("Ann".into()),
        avatar_url: None,
        role: "user".into(),
        is_active: true,
        tenant_id: format!("tenant-{id}"),
        subscription_plan: "free".into(),
        subscription_status: None,
        subscription_period_end: None,
        cancel_at_period_end: false,
        subscription_id: None,
        stripe_customer_id: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        password_hash: None,
        email_verified: false,
    }
}

/// A `pending` delivery `id` of a `project.created` event to subscription `s1`, created
/// at the start of 2026.
pub fn delivery_record(id: &str) -> aloft_store::DeliveryRecord {
    aloft_store::DeliveryRecord {
        id: id.into(),
        subscription_id: "s1".into(),
        event: "project.created".into(),
        body: r#"{"event":"project.created"}"#.into(),
        status: "pending".into(),
        attempts: 0,
        response_status: None,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        expires_at: 1_900_000_000,
    }
}

/// A fresh, isolated set of the template's resources on an emulator, whose SES has the
/// local email sender ([`LOCAL_MAIL_FROM`], `MAIL_FROM` in [`TestEnv::env`]) verified.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub settings: AwsSettings,
    pub clients: AwsClients,
    pub resources: Provisioned,
}

impl TestEnv {
    /// Fresh resources on the shared emulator.
    pub async fn new() -> Self {
        Self::on(&emulator_url()).await
    }

    /// Fresh resources on the emulator at `endpoint`.
    pub async fn on(endpoint: &str) -> Self {
        let settings = AwsSettings::local(endpoint);
        let clients = AwsClients::connect(&settings).await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let template = Template::bundled().expect("template.yaml parses");
        let resources = provision(&clients, &template, &prefix)
            .await
            .unwrap_or_else(|e| {
                panic!("could not create test resources on {endpoint}: {e}. Is the emulator running? `make test` starts it; for a single test run `make emulator` first")
            });
        // The sender `env` configures, verified as the bootstrap verifies it, so a jobs
        // worker built from this environment sends email as on the local stack.
        verify_sender(&clients, LOCAL_MAIL_FROM)
            .await
            .unwrap_or_else(|e| panic!("could not verify the email sender on {endpoint}: {e}"));
        Self {
            settings,
            clients,
            resources,
        }
    }

    /// The environment a function would see if deployed against these resources, for
    /// building its configuration with `from_env`.
    pub fn env(&self, extra: &[(&'static str, &str)]) -> Env {
        let endpoint = self.settings.endpoint_url.clone().unwrap_or_default();
        let mut pairs: Vec<(&str, String)> = vec![
            ("ALOFT_STAGE", "local".into()),
            ("AWS_REGION", self.settings.region.clone()),
            ("AWS_ENDPOINT_URL", endpoint),
            ("TABLE_NAME", self.table()),
            ("BUCKET_NAME", self.bucket()),
            ("JOBS_QUEUE_URL", self.queue_url("JobsQueue")),
            ("WEBHOOKS_QUEUE_URL", self.queue_url("WebhooksQueue")),
            ("JWT_SECRET", TEST_JWT_SECRET.into()),
            ("JWT_ISSUER", TEST_ISSUER.into()),
            ("JWT_AUDIENCE", TEST_AUDIENCE.into()),
            ("MAIL_FROM", LOCAL_MAIL_FROM.into()),
            (
                "TENANT_CREDENTIALS_KEY_ID",
                self.resources.kms_keys["TenantCredentialsKey"].clone(),
            ),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
    }

    pub fn table(&self) -> String {
        self.resources.tables["AppTable"].clone()
    }

    pub fn bucket(&self) -> String {
        self.resources.buckets["FilesBucket"].clone()
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.resources.queue_urls[logical_id].clone()
    }
}
