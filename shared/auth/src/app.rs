//! The state every HTTP function is built the same way: the AWS clients and the table
//! connected once per cold start, the guard over that table, and the function's own
//! parts. A function declares only its parts:
//!
//! ```ignore
//! #[derive(Debug, Clone)]
//! pub struct Projects { pub projects: ProjectRepo }
//!
//! impl AppParts for Projects {
//!     fn build(_env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
//!         Ok(Self { projects: ProjectRepo::new(table.clone()) })
//!     }
//! }
//!
//! pub type AppState = App<Projects>;
//! ```
//!
//! Handlers take `State<AppState>` and reach the parts through `Deref`
//! (`state.projects`); the auth extractors find the authenticator in the guard.

use std::ops::{Deref, DerefMut};

use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, versioned};
use aloft_store::{AwsClients, AwsSettings, Table};
use axum::{Router, extract::FromRef};

use crate::{Authenticator, Guard, guarded};

/// A function's own parts of its state, built once per cold start.
pub trait AppParts: Clone + Send + Sync + Sized + 'static {
    fn build(env: &Env, aws: &AwsClients, table: &Table) -> Result<Self, ConfigError>;
}

/// A function's state: its guard and its own parts (reached through `Deref`).
#[derive(Debug, Clone)]
pub struct App<P> {
    pub guard: Guard,
    parts: P,
}

impl<P: AppParts> App<P> {
    /// Connects the AWS clients (`AWS_*`) and the table (`TABLE_NAME`), then builds the
    /// function's parts and the guard (`JWT_*`, `RATE_LIMIT_*`).
    pub async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let aws = AwsClients::connect(&AwsSettings::from_env(env)?).await;
        let table = Table::new(aws.dynamodb.clone(), env.required("TABLE_NAME")?);
        let parts = P::build(env, &aws, &table)?;
        Ok(Self {
            guard: Guard::from_env(env, table)?,
            parts,
        })
    }

    /// The function's app: `routes` under every API version, behind the guard and the
    /// shared edge.
    pub fn serve(self, routes: Router<Self>, http: &HttpConfig) -> Router {
        let guard = self.guard.clone();
        guarded(versioned(routes).with_state(self), guard, http)
    }
}

impl<P> Deref for App<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.parts
    }
}

impl<P> DerefMut for App<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.parts
    }
}

/// What lets [`crate::AuthUser`] and [`crate::AdminUser`] verify tokens from any function's
/// state.
impl<P> FromRef<App<P>> for Authenticator {
    fn from_ref(app: &App<P>) -> Self {
        app.guard.authenticator().clone()
    }
}
