//! The AI settings, read once at cold start: which providers are configured, the model
//! catalogue, the routes and fallbacks, timeouts, quotas and limits.

use std::{collections::BTreeMap, time::Duration};

use aloft_auth::Plan;
use aloft_config::{ConfigError, Env};

/// The two wire formats we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Chat Completions: OpenAI, Ollama, vLLM, OpenRouter, Perplexity…
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// A provider the function can call.
#[derive(Clone, PartialEq, Eq)]
pub struct Provider {
    /// `openai`, `anthropic` or `perplexity`, as clients see it.
    pub name: &'static str,
    pub wire: Wire,
    /// No trailing slash. OpenAI-compatible URLs include their version (`…/v1`).
    pub base_url: String,
    /// Sent as a bearer token or `x-api-key`; never logged or echoed.
    pub api_key: Option<String>,
    /// The variables that configure it, for the 503 that says what to set.
    pub key_variable: &'static str,
}

/// The key stays out of every `Debug` print (and so out of logs).
impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// The known providers: (name, wire, key variable, base URL variable, default URL).
const PROVIDERS: [(&str, Wire, &str, &str, &str); 3] = [
    (
        "openai",
        Wire::OpenAi,
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "https://api.openai.com/v1",
    ),
    (
        "anthropic",
        Wire::Anthropic,
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "https://api.anthropic.com",
    ),
    (
        "perplexity",
        Wire::OpenAi,
        "PERPLEXITY_API_KEY",
        "PERPLEXITY_BASE_URL",
        "https://api.perplexity.ai",
    ),
];

/// A model clients may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    /// A name from [`PROVIDERS`].
    pub provider: String,
    /// The largest `max_tokens` the model accepts.
    pub max_output_tokens: u32,
}

/// Models known without configuration; `AI_MODELS` adds or replaces entries.
const MODELS: [(&str, &str, u32); 5] = [
    ("gpt-4o", "openai", 16_384),
    ("gpt-4o-mini", "openai", 16_384),
    ("claude-sonnet-4-5", "anthropic", 64_000),
    ("claude-haiku-4-5", "anthropic", 64_000),
    ("sonar", "perplexity", 8_000),
];

/// `chat/routed` complexities to models, first choice first (the reference's table,
/// each with a fallback on the other provider).
const ROUTES: &str = "simple=gpt-4o-mini,claude-haiku-4-5;moderate=gpt-4o,claude-sonnet-4-5;\
                      complex=claude-sonnet-4-5,gpt-4o;search=sonar,gpt-4o";

/// What a model falls back to when its provider is throttled, failing or slow: the
/// model of the same tier on the other provider (docs/api.md).
const FALLBACKS: &str = "gpt-4o=claude-sonnet-4-5;gpt-4o-mini=claude-haiku-4-5;\
                         claude-sonnet-4-5=gpt-4o;claude-haiku-4-5=gpt-4o-mini;sonar=gpt-4o";

/// Everything the AI routes are configured with.
#[derive(Debug, Clone)]
pub struct AiSettings {
    /// Only the configured ones: a key, or an explicit base URL (local model servers
    /// need no key).
    pub providers: Vec<Provider>,
    pub models: BTreeMap<String, Model>,
    /// Complexity → models in the order they are tried.
    pub routes: BTreeMap<String, Vec<String>>,
    /// Model → the models tried after it.
    pub fallbacks: BTreeMap<String, Vec<String>>,
    pub default_model: String,
    pub default_temperature: f64,
    pub default_max_tokens: u32,
    /// Longest prompt, in characters over all messages.
    pub max_prompt_chars: usize,
    pub timeouts: Timeouts,
    /// Monthly AI tokens per plan; 0 = unlimited.
    pub monthly_tokens: [u64; 3],
    /// Where the streaming function serves the same routes (`status.stream_url`).
    pub stream_url: Option<String>,
}

/// Bounds on every provider call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP and TLS connection.
    pub connect: Duration,
    /// The first byte of the answer's body, and then the gap between stream events.
    pub first_byte: Duration,
    /// One request, every attempt and the whole stream included.
    pub deadline: Duration,
}

impl AiSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let providers = PROVIDERS
            .iter()
            .filter_map(|&(name, wire, key_variable, url_variable, default_url)| {
                let api_key = env.optional(key_variable);
                let base_url = env.optional(url_variable);
                (api_key.is_some() || base_url.is_some()).then(|| Provider {
                    name,
                    wire,
                    base_url: base_url
                        .as_deref()
                        .unwrap_or(default_url)
                        .trim_end_matches('/')
                        .to_owned(),
                    api_key,
                    key_variable,
                })
            })
            .collect();
        let models = models(env)?;
        let routes = chains(env, "AI_ROUTES", ROUTES, &models)?;
        let fallbacks = chains(env, "AI_FALLBACKS", FALLBACKS, &models)?;
        let default_model = env
            .optional("AI_DEFAULT_MODEL")
            .unwrap_or_else(|| "gpt-4o".into());
        if !models.contains_key(&default_model) {
            return Err(unknown_model("AI_DEFAULT_MODEL", &default_model));
        }
        let seconds = |name, default| env.seconds_or(name, default);
        Ok(Self {
            providers,
            models,
            routes,
            fallbacks,
            default_model,
            default_temperature: 0.7,
            default_max_tokens: positive(env, "AI_DEFAULT_MAX_TOKENS", 1000)?,
            max_prompt_chars: positive(env, "AI_MAX_PROMPT_CHARS", 48_000)?,
            timeouts: Timeouts {
                connect: seconds("AI_CONNECT_TIMEOUT_SECONDS", 5.0)?,
                first_byte: seconds("AI_FIRST_BYTE_TIMEOUT_SECONDS", 20.0)?,
                // API Gateway ends an HTTP API integration at 30 s.
                deadline: seconds("AI_DEADLINE_SECONDS", 28.0)?,
            },
            monthly_tokens: [
                env.parse_or("AI_MONTHLY_TOKENS_FREE", 100_000)?,
                env.parse_or("AI_MONTHLY_TOKENS_PRO", 2_000_000)?,
                env.parse_or("AI_MONTHLY_TOKENS_ENTERPRISE", 0)?,
            ],
            stream_url: env
                .optional("AI_STREAM_URL")
                .map(|url| url.trim_end_matches('/').to_owned()),
        })
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// These settings with an organization's own keys (provider, key) in place of the
    /// deployment's; with `required`, a provider without one of its keys is not used.
    pub fn with_tenant_keys(&self, keys: &[(String, String)], required: bool) -> AiSettings {
        let mut settings = self.clone();
        settings.providers.retain_mut(|provider| {
            match keys.iter().find(|(name, _)| name == provider.name) {
                Some((_, key)) => {
                    provider.api_key = Some(key.clone());
                    true
                }
                None => !required,
            }
        });
        settings
    }

    /// The monthly token allowance of `plan`; 0 = unlimited.
    pub fn monthly_tokens(&self, plan: Plan) -> u64 {
        match plan {
            Plan::Free => self.monthly_tokens[0],
            Plan::Pro => self.monthly_tokens[1],
            Plan::Enterprise => self.monthly_tokens[2],
        }
    }

    /// The models to try for a request for `model`: it, then its fallbacks.
    pub fn model_chain(&self, model: &str) -> Vec<&Model> {
        let fallbacks = self.fallbacks.get(model).into_iter().flatten();
        self.callable(std::iter::once(model).chain(fallbacks.map(String::as_str)))
    }

    /// The models of `names` whose provider is configured, each once, in order.
    pub fn callable<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<&Model> {
        let mut chain: Vec<&Model> = Vec::new();
        for model in names.into_iter().filter_map(|name| self.models.get(name)) {
            let known = chain.iter().any(|m| m.name == model.name);
            if !known && self.provider(&model.provider).is_some() {
                chain.push(model);
            }
        }
        chain
    }

    /// The variables that would make `model` callable, for a 503 that says what to set.
    pub fn variables_for(&self, model: &str) -> Vec<&'static str> {
        let provider = self.models.get(model).map(|m| m.provider.as_str());
        PROVIDERS
            .iter()
            .filter(|p| provider.is_none_or(|name| name == p.0))
            .flat_map(|p| [p.2, p.3])
            .collect()
    }
}

fn positive<T>(env: &Env, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    let value = env.parse_or(name, default)?;
    if value == T::default() {
        return Err(ConfigError::Invalid {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

/// The built-in catalogue plus `AI_MODELS` (`name=provider:max_tokens,…`).
fn models(env: &Env) -> Result<BTreeMap<String, Model>, ConfigError> {
    let mut models: BTreeMap<String, Model> = MODELS
        .iter()
        .map(|&(name, provider, max)| (name.to_owned(), model(name, provider, max)))
        .collect();
    for entry in env.list("AI_MODELS") {
        let invalid = |reason: &str| ConfigError::Invalid {
            name: "AI_MODELS",
            reason: format!("'{entry}': {reason}"),
        };
        let (name, spec) = entry
            .split_once('=')
            .ok_or_else(|| invalid("expected name=provider:max_tokens"))?;
        let (provider, max) = spec
            .split_once(':')
            .ok_or_else(|| invalid("expected name=provider:max_tokens"))?;
        let provider = provider.trim();
        if !PROVIDERS.iter().any(|p| p.0 == provider) {
            return Err(invalid("provider must be openai, anthropic or perplexity"));
        }
        let max = max
            .trim()
            .parse()
            .ok()
            .filter(|&max: &u32| max > 0)
            .ok_or_else(|| invalid("max_tokens must be a positive integer"))?;
        models.insert(name.trim().to_owned(), model(name.trim(), provider, max));
    }
    Ok(models)
}

fn model(name: &str, provider: &str, max_output_tokens: u32) -> Model {
    Model {
        name: name.to_owned(),
        provider: provider.to_owned(),
        max_output_tokens,
    }
}

/// `key=model,model;key=model` (routes and fallbacks); every model must be known.
fn chains(
    env: &Env,
    name: &'static str,
    default: &str,
    models: &BTreeMap<String, Model>,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let raw = env.optional(name).unwrap_or_else(|| default.to_owned());
    let mut chains = BTreeMap::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, list) = entry.split_once('=').ok_or(ConfigError::Invalid {
            name,
            reason: format!("'{entry}' is not key=model,model"),
        })?;
        let list: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = list.iter().find(|m| !models.contains_key(*m)) {
            return Err(unknown_model(name, unknown));
        }
        chains.insert(key.trim().to_owned(), list);
    }
    Ok(chains)
}

fn unknown_model(name: &'static str, model: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: format!("unknown model '{model}' (add it with AI_MODELS=name=provider:max_tokens)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AiSettings {
        AiSettings::from_env(&Env::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let s = settings(&[("OPENAI_API_KEY", "sk-secret-123")]);
        assert!(!format!("{s:?}").contains("sk-secret-123"));
    }

    #[test]
    fn no_key_and_no_url_means_no_provider() {
        assert!(settings(&[]).providers.is_empty());
    }

    #[test]
    fn a_local_server_needs_only_its_base_url() {
        let s = settings(&[("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/")]);
        let openai = s.provider("openai").unwrap();
        assert_eq!(openai.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(openai.api_key, None);
    }

    #[test]
    fn fallbacks_cross_providers_and_skip_unconfigured_ones() {
        let both = settings(&[("OPENAI_API_KEY", "k"), ("ANTHROPIC_API_KEY", "k")]);
        let names = |chain: Vec<&Model>| chain.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(both.model_chain("gpt-4o")),
            ["gpt-4o", "claude-sonnet-4-5"]
        );
        let search = both.routes["search"].iter().map(String::as_str);
        assert_eq!(
            names(both.callable(search)),
            ["gpt-4o"],
            "no Perplexity key"
        );
        let openai_only = settings(&[("OPENAI_API_KEY", "k")]);
        assert_eq!(
            names(openai_only.model_chain("claude-sonnet-4-5")),
            ["gpt-4o"]
        );
    }

    #[test]
    fn models_and_routes_are_configurable() {
        let s = settings(&[
            ("AI_MODELS", "llama3.2=openai:4096"),
            ("AI_DEFAULT_MODEL", "llama3.2"),
            ("AI_ROUTES", "simple=llama3.2"),
        ]);
        assert_eq!(s.models["llama3.2"].max_output_tokens, 4096);
        assert_eq!(s.routes["simple"], ["llama3.2"]);
        assert!(!s.routes.contains_key("complex"));
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let error = |pairs: &[(&str, &str)]| {
            AiSettings::from_env(&Env::from_pairs(pairs.iter().copied()))
                .unwrap_err()
                .to_string()
        };
        assert!(error(&[("AI_MODELS", "x=nobody:10")]).contains("AI_MODELS"));
        assert!(error(&[("AI_ROUTES", "simple=gpt-5")]).contains("AI_ROUTES"));
        assert!(error(&[("AI_DEFAULT_MODEL", "gpt-5")]).contains("AI_DEFAULT_MODEL"));
        assert!(error(&[("AI_DEADLINE_SECONDS", "0")]).contains("AI_DEADLINE_SECONDS"));
        assert!(error(&[("AI_DEFAULT_MAX_TOKENS", "0")]).contains("AI_DEFAULT_MAX_TOKENS"));
    }
}
