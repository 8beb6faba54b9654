//! Typed configuration from environment variables.
//!
//! Every function reads its settings once, at cold start, through [`Env`]. A missing or
//! malformed variable is an error that names the variable, so a misconfigured deployment
//! fails at init with a message that says what to fix instead of failing per request.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A source of configuration values: the process environment, or a fixed map in tests,
/// with an optional overlay in front (secrets fetched at cold start).
#[derive(Clone, Default)]
pub struct Env {
    overrides: Option<HashMap<String, String>>,
    /// Read before the source; `None` makes the name unset whatever the source holds.
    overlay: HashMap<String, Option<String>>,
}

/// Names only: an environment holds secrets.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn names<V>(map: &HashMap<String, V>) -> Vec<&str> {
            let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
            names.sort_unstable();
            names
        }
        f.debug_struct("Env")
            .field("pairs", &self.overrides.as_ref().map(names))
            .field("overlay", &names(&self.overlay))
            .finish()
    }
}

impl Env {
    /// Reads the real process environment.
    pub fn process() -> Self {
        Self::default()
    }

    /// Reads only the given pairs; used by tests to build configuration without touching
    /// the process environment.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            overrides: Some(map),
            overlay: HashMap::new(),
        }
    }

    /// This environment with `values` in front of it: a `Some` replaces the variable, a
    /// `None` unsets it. Later values win over earlier ones, and over an earlier overlay.
    pub fn overlaid(mut self, values: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        self.overlay.extend(values);
        self
    }

    /// The value of `name`, treating an empty string as unset.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        let value = match (self.overlay.get(name), &self.overrides) {
            (Some(value), _) => value.clone(),
            (None, Some(map)) => map.get(name).cloned(),
            (None, None) => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, or [`ConfigError::Missing`].
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name,
                    reason: e.to_string(),
                }),
        }
    }

    /// A positive number of seconds (fractions allowed), or `default` when unset.
    pub fn seconds_or(&self, name: &'static str, default: f64) -> Result<Duration, ConfigError> {
        let value: f64 = self.parse_or(name, default)?;
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(ConfigError::Invalid {
                name,
                reason: format!("{value} is not a positive number of seconds"),
            })
    }

    /// `key=value,…` as a map; an item without `=` is an error naming the variable.
    pub fn pairs(&self, name: &'static str) -> Result<HashMap<String, String>, ConfigError> {
        self.list(name)
            .iter()
            .map(|pair| {
                let (key, value) = pair.split_once('=').ok_or(ConfigError::Invalid {
                    name,
                    reason: format!("'{pair}' is not key=value"),
                })?;
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            })
            .collect()
    }

    /// A comma-separated list; empty items are dropped.
    pub fn list(&self, name: &'static str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A billing provider's products mapped to our plans (`STRIPE_PRICE_PLANS`,
/// `APPLE_PRODUCT_PLANS`, `GOOGLE_PRODUCT_PLANS`: `product=plan,…`). A product that is not
/// listed is `pro`: paying for anything unlisted still makes a customer premium.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPlans(HashMap<String, String>);

impl ProductPlans {
    pub fn from_env(env: &Env, name: &'static str) -> Result<Self, ConfigError> {
        env.pairs(name).map(ProductPlans)
    }

    /// Our plan for `product`.
    pub fn plan(&self, product: Option<&str>) -> String {
        product
            .and_then(|p| self.0.get(p))
            .cloned()
            .unwrap_or_else(|| "pro".to_owned())
    }
}

/// Where the code runs. `local` turns on developer conveniences (docs on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Local,
    Deployed,
}

impl Stage {
    /// `ALOFT_STAGE=local` means the local stack; anything else is a deployed stage.
    pub fn from_env(env: &Env) -> Self {
        match env.optional("ALOFT_STAGE").as_deref() {
            Some("local") => Stage::Local,
            _ => Stage::Deployed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_is_named_in_the_error() {
        let env = Env::from_pairs([]);
        let err = env.required("TABLE_NAME").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required environment variable TABLE_NAME"
        );
    }

    #[test]
    fn blank_value_counts_as_missing() {
        let env = Env::from_pairs([("TABLE_NAME", "  ")]);
        assert_eq!(
            env.required("TABLE_NAME"),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
    }

    #[test]
    fn seconds_must_be_positive_and_may_be_fractions() {
        let env = Env::from_pairs([("A", "0.5"), ("B", "0"), ("C", "-1")]);
        assert_eq!(env.seconds_or("A", 1.0), Ok(Duration::from_millis(500)));
        assert_eq!(env.seconds_or("UNSET", 3.0), Ok(Duration::from_secs(3)));
        assert!(env.seconds_or("B", 1.0).is_err());
        assert!(env.seconds_or("C", 1.0).is_err());
    }

    #[test]
    fn product_plans_map_listed_products_and_make_the_rest_pro() {
        let env = Env::from_pairs([("PLANS", "price_a=pro, price_b = enterprise"), ("BAD", "x")]);
        let plans = ProductPlans::from_env(&env, "PLANS").unwrap();
        assert_eq!(plans.plan(Some("price_b")), "enterprise");
        assert_eq!(plans.plan(Some("price_x")), "pro");
        assert_eq!(plans.plan(None), "pro");
        assert!(
            ProductPlans::from_env(&env, "BAD")
                .unwrap_err()
                .to_string()
                .contains("BAD")
        );
    }

    #[test]
    fn malformed_number_names_the_variable() {
        let env = Env::from_pairs([("MAX_BODY_BYTES", "lots")]);
        let err = env.parse_or("MAX_BODY_BYTES", 10_usize).unwrap_err();
        assert!(err.to_string().contains("MAX_BODY_BYTES"), "{err}");
    }

    #[test]
    fn list_splits_and_trims() {
        let env = Env::from_pairs([("API_DEPRECATED_VERSIONS", " v1, ,v0 ")]);
        assert_eq!(env.list("API_DEPRECATED_VERSIONS"), vec!["v1", "v0"]);
    }

    #[test]
    fn overlay_replaces_and_unsets_values_of_the_source() {
        let env = Env::from_pairs([("JWT_SECRET", "plain"), ("KEEP", "kept"), ("GONE", "x")])
            .overlaid([
                ("JWT_SECRET".to_owned(), Some("from-ssm".to_owned())),
                ("GONE".to_owned(), None),
            ]);
        assert_eq!(env.optional("JWT_SECRET").as_deref(), Some("from-ssm"));
        assert_eq!(env.optional("KEEP").as_deref(), Some("kept"));
        assert_eq!(env.required("GONE"), Err(ConfigError::Missing("GONE")));
    }

    #[test]
    fn debug_shows_names_but_never_values() {
        let env = Env::from_pairs([("JWT_SECRET", "hunter2")])
            .overlaid([("STRIPE_SECRET_KEY".to_owned(), Some("sk_live_x".to_owned()))]);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("JWT_SECRET") && shown.contains("STRIPE_SECRET_KEY"),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("sk_live_x"),
            "{shown}"
        );
    }

    #[test]
    fn stage_is_local_only_when_said() {
        assert_eq!(
            Stage::from_env(&Env::from_pairs([("ALOFT_STAGE", "local")])),
            Stage::Local
        );
        assert_eq!(Stage::from_env(&Env::from_pairs([])), Stage::Deployed);
    }
}
