//! The billing settings, read once at cold start: prices, the price → plan map, the
//! stage (which redirect URLs are allowed) and the Stripe client's settings.
use aloft_config::{ConfigError, Env, ProductPlans, Stage};
use aloft_core::ApiError;
use serde_json::json;

use crate::stripe::{StripeSettings, Timeouts};

/// The two billing periods a checkout can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Monthly,
    Yearly,
}

impl Period {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "monthly" => Some(Period::Monthly),
            "yearly" => Some(Period::Yearly),
            _ => None,
        }
    }

    /// The variable that holds this period's Stripe price.
    pub fn variable(self) -> &'static str {
        match self {
            Period::Monthly => "STRIPE_PRICE_MONTHLY",
            Period::Yearly => "STRIPE_PRICE_YEARLY",
        }
    }
}

/// Everything the billing routes are configured with.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub stripe: StripeSettings,
    monthly_price: Option<String>,
    yearly_price: Option<String>,
    /// `STRIPE_PRICE_PLANS` (`price=plan,…`), the map the webhook worker uses too.
    price_plans: ProductPlans,
    pub stage: Stage,
}

impl BillingSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let price_plans = ProductPlans::from_env(env, "STRIPE_PRICE_PLANS")?;
        Ok(Self {
            stripe: StripeSettings {
                api_base: env
                    .optional("STRIPE_API_BASE")
                    .unwrap_or_else(|| "https://api.stripe.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
                secret_key: env.optional("STRIPE_SECRET_KEY"),
                timeouts: Timeouts {
                    connect: env.seconds_or("STRIPE_CONNECT_TIMEOUT_SECONDS", 3.0)?,
                    first_byte: env.seconds_or("STRIPE_FIRST_BYTE_TIMEOUT_SECONDS", 10.0)?,
                    // Checkout makes two calls; both fit in API Gateway's 30 s.
                    call: env.seconds_or("STRIPE_TIMEOUT_SECONDS", 12.0)?,
                },
            },
            monthly_price: env.optional("STRIPE_PRICE_MONTHLY"),
            yearly_price: env.optional("STRIPE_PRICE_YEARLY"),
            price_plans,
            stage: Stage::from_env(env),
        })
    }

    /// The Stripe price of `period`; 503 naming its variable when it is not set.
    pub fn price(&self, period: Period) -> Result<&str, ApiError> {
        let price = match period {
            Period::Monthly => &self.monthly_price,
            Period::Yearly => &self.yearly_price,
        };
        price.as_deref().ok_or_else(|| {
            let variable = period.variable();
            ApiError::ServiceUnavailable {
                message: format!("Billing is not configured: set {variable}").into(),
                details: Some(json!({ "configure": [variable] })),
                retry_after: None,
            }
        })
    }

    /// Our plan for a Stripe price; an unlisted one is `pro`, as in the webhook worker.
    pub fn plan_of(&self, price: Option<&str>) -> String {
        self.price_plans.plan(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BillingSettings {
        BillingSettings::from_env(&Env::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn the_secret_key_never_shows_in_debug_output() {
        let s = settings(&[("STRIPE_SECRET_KEY", "sk_test_very_secret")]);
        assert!(!format!("{s:?}").contains("sk_test_very_secret"));
    }

    #[test]
    fn prices_map_to_plans_and_unlisted_ones_are_pro() {
        let s = settings(&[("STRIPE_PRICE_PLANS", "price_a=pro, price_b=enterprise")]);
        assert_eq!(s.plan_of(Some("price_b")), "enterprise");
        assert_eq!(s.plan_of(Some("price_x")), "pro");
        assert_eq!(s.plan_of(None), "pro");
    }

    #[test]
    fn a_missing_price_names_its_variable() {
        let s = settings(&[("STRIPE_PRICE_MONTHLY", "price_m")]);
        assert_eq!(s.price(Period::Monthly).unwrap(), "price_m");
        let error = s.price(Period::Yearly).unwrap_err();
        assert!(error.to_string().contains("STRIPE_PRICE_YEARLY"), "{error}");
    }

    #[test]
    fn the_default_api_base_is_stripe_and_a_trailing_slash_is_dropped() {
        assert_eq!(settings(&[]).stripe.api_base, "https://api.stripe.com");
        let local = settings(&[("STRIPE_API_BASE", "http://127.0.0.1:5301/")]);
        assert_eq!(local.stripe.api_base, "http://127.0.0.1:5301");
    }

    #[test]
    fn bad_timeouts_name_their_variable() {
        let env = Env::from_pairs([("STRIPE_TIMEOUT_SECONDS", "0")]);
        let error = BillingSettings::from_env(&env).unwrap_err().to_string();
        assert!(error.contains("STRIPE_TIMEOUT_SECONDS"), "{error}");
    }
}
