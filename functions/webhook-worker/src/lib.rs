//! `webhook-worker`: applies verified provider events from the webhooks queue.
//!
//! - Billing (Stripe, Apple, Google Play) sets the user's plan, status, period end and
//!   cancel-at-period-end.
//! - Identity (Clerk, Supabase) creates, updates and deactivates users.
//!
//! Every change is conditional on the event's creation time, so an older event that
//! arrives late never undoes a newer one. An event whose user cannot be found yet fails
//! and is retried with backoff (its checkout or sign-up event may still be on the way);
//! if it never can be, it ends dead and visible to admins, who can retry it.

mod billing;
mod identity;

use std::collections::HashMap;

use aloft_config::{ConfigError, Env, ProductPlans};
use aloft_inbound::{Provider, ProviderJob};
use aloft_queue::{Attempt, Handler, JobError, Worker, WorkerConfig};
use aloft_store::{Applied, AwsClients, AwsSettings, JobRecord, Table, UserRepo};

/// Maps provider product ids to our plans, and names the identity issuers.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `STRIPE_PRICE_PLANS`, `APPLE_PRODUCT_PLANS`, `GOOGLE_PRODUCT_PLANS`:
    /// `product=plan,…`. A product not listed is `pro`.
    pub plans: HashMap<Provider, ProductPlans>,
    /// `CLERK_ISSUER` / `SUPABASE_ISSUER` (default `AUTH_ISSUER`): users created here
    /// are linked under the issuer their sign-in tokens carry, so both find one user.
    pub issuers: HashMap<Provider, String>,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut plans = HashMap::new();
        for (provider, var) in [
            (Provider::Stripe, "STRIPE_PRICE_PLANS"),
            (Provider::Apple, "APPLE_PRODUCT_PLANS"),
            (Provider::Google, "GOOGLE_PRODUCT_PLANS"),
        ] {
            plans.insert(provider, ProductPlans::from_env(env, var)?);
        }
        let default_issuer = env.optional("AUTH_ISSUER");
        let mut issuers = HashMap::new();
        for (provider, var) in [
            (Provider::Clerk, "CLERK_ISSUER"),
            (Provider::Supabase, "SUPABASE_ISSUER"),
        ] {
            let issuer = env
                .optional(var)
                .or_else(|| default_issuer.clone())
                .unwrap_or_else(|| provider.as_str().to_owned());
            issuers.insert(provider, issuer);
        }
        Ok(Self { plans, issuers })
    }

    /// Our plan for a provider's product id.
    pub(crate) fn plan(&self, provider: Provider, product: Option<&str>) -> String {
        self.plans.get(&provider).map_or_else(
            || ProductPlans::default().plan(product),
            |plans| plans.plan(product),
        )
    }
}

/// Applies provider events to users.
#[derive(Debug, Clone)]
pub struct ProviderEvents {
    pub users: UserRepo,
    /// Organizations pay for themselves: their subscriptions change here.
    pub organizations: aloft_store::OrganizationRepo,
    /// Switches off a deleted identity's credentials.
    pub deactivation: aloft_auth::Deactivation,
    /// `subscription.updated` to the payer's tenant webhooks and its channel.
    pub publisher: aloft_queue::Publisher,
    pub settings: Settings,
}

impl Handler for ProviderEvents {
    type Job = ProviderJob;

    async fn handle(
        &self,
        ProviderJob::Event(event): ProviderJob,
        _record: &JobRecord,
        _attempt: Attempt,
    ) -> Result<(), JobError> {
        let outcome = match event.provider {
            Provider::Stripe | Provider::Apple | Provider::Google => {
                billing::apply(self, &event).await?
            }
            Provider::Clerk | Provider::Supabase => identity::apply(self, &event).await?,
        };
        tracing::info!(
            webhook.provider = event.provider.as_str(),
            webhook.kind = event.kind.as_str(),
            webhook.event_id = event.id.as_str(),
            outcome = ?outcome,
            "provider event processed"
        );
        Ok(())
    }
}

/// What processing an event did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// A newer event had already been applied.
    Stale,
    /// Not an event we act on.
    Ignored,
}

/// [`Applied`] as an outcome; a missing user or organization is a failure to retry.
pub(crate) fn outcome(applied: Applied, id: &str) -> Result<Outcome, String> {
    match applied {
        Applied::Applied => Ok(Outcome::Applied),
        Applied::Stale => Ok(Outcome::Stale),
        Applied::NoSuchPayer => Err(format!("no user or organization {id}")),
    }
}

/// Publishes through the jobs queue (`JOBS_QUEUE_URL`).
pub fn publisher(
    env: &Env,
    aws: &AwsClients,
    table: &Table,
) -> Result<aloft_queue::Publisher, ConfigError> {
    let urls = aloft_queue::QueueUrls::from_env(env, &[aloft_queue::QueueName::Jobs])?;
    let jobs = aloft_store::JobRepo::new(table.clone());
    Ok(aloft_queue::Publisher::new(aloft_queue::Producer::new(
        aws, jobs, urls,
    )))
}

/// The worker of the webhooks queue, from the environment.
pub async fn worker(env: &Env) -> Result<Worker<ProviderEvents>, ConfigError> {
    let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
    let table = Table::new(aws.dynamodb.clone(), env.required("TABLE_NAME")?);
    let queue_url = env.required("WEBHOOKS_QUEUE_URL")?;
    let handler = ProviderEvents {
        users: UserRepo::new(table.clone()),
        organizations: aloft_store::OrganizationRepo::new(table.clone()),
        deactivation: aloft_auth::Deactivation::from_env(env, &table)?,
        publisher: publisher(env, &aws, &table)?,
        settings: Settings::from_env(env)?,
    };
    Ok(Worker::new(
        table,
        aws.sqs(),
        queue_url,
        WorkerConfig::from_env(env)?,
        handler,
    ))
}
