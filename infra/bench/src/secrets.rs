//! Cold starts with secrets from SSM Parameter Store. A row named `<function>+secrets`
//! runs `<function>` as a deployed stage does: the secrets of its environment are not
//! plain variables but read at cold start (`aloft_store::parameters::load`) from a local
//! stand-in for the parameter API (`aloft_testkit::fake_ssm`), so the row's cold start
//! includes building the HTTPS client, signing, and one `GetParameters` round trip over
//! loopback. A real in-region round trip (TLS handshake included) is not measured here.

use aloft_testkit::fake_ssm::FakeSsm;

use crate::BoxError;

const PATH: &str = "/aloft/bench/";
/// The secrets among the function environment's variables.
const NAMES: [&str; 2] = ["JWT_SECRET", "STRIPE_WEBHOOK_SECRET"];

/// The stand-in parameter store, holding the function environment's secrets.
#[derive(Debug)]
pub struct ParameterStore {
    fake: FakeSsm,
}

impl ParameterStore {
    /// Starts the fake on a free port, with each secret of `env` as a parameter.
    pub async fn start(env: &[(String, String)]) -> Self {
        let fake = FakeSsm::start().await;
        for (name, value) in env
            .iter()
            .filter(|(name, _)| NAMES.contains(&name.as_str()))
        {
            fake.put(&format!("{PATH}{name}"), value);
        }
        Self { fake }
    }

    /// `env` with its secrets moved out and the settings that read them from the store in.
    pub fn function_env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = env
            .iter()
            .filter(|(name, _)| !NAMES.contains(&name.as_str()))
            .cloned()
            .collect();
        env.extend([
            ("SECRETS_PATH".to_owned(), PATH.to_owned()),
            ("SECRET_NAMES".to_owned(), NAMES.join(",")),
            ("AWS_ENDPOINT_URL_SSM".to_owned(), self.fake.url.clone()),
        ]);
        env
    }

    /// The `GetParameters` calls answered so far.
    pub fn calls(&self) -> usize {
        self.fake.requests().len()
    }

    /// Fails unless `launches` processes of `row` each made one call since `before`: a
    /// binary built without the loader would be measured without it.
    pub fn ensure_called(&self, row: &str, before: usize, launches: usize) -> Result<(), BoxError> {
        let made = self.calls() - before;
        if made == launches {
            Ok(())
        } else {
            Err(format!(
                "{row}: {launches} processes made {made} GetParameters calls; \
                 rebuild the binary (its main must call aloft_store::parameters::load)"
            )
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn secrets_move_from_the_environment_to_the_store() {
        let env = vec![
            ("JWT_SECRET".to_owned(), "s".to_owned()),
            ("TABLE_NAME".to_owned(), "t".to_owned()),
        ];
        let store = ParameterStore::start(&env).await;
        let moved = store.function_env(&env);
        let value = |name: &str| {
            moved
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("JWT_SECRET"), None);
        assert_eq!(value("TABLE_NAME"), Some("t"));
        assert_eq!(value("SECRETS_PATH"), Some(PATH));
        assert_eq!(
            value("SECRET_NAMES"),
            Some("JWT_SECRET,STRIPE_WEBHOOK_SECRET")
        );
    }
}
