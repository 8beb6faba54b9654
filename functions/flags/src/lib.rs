//! `flags`: feature flags. Admins manage them under `/api/{v1,v2}/admin/feature-flags`
//! (list, read by id or key, create, delete, `check` for any user, and changes with
//! optimistic concurrency: update, enable, disable, add or remove a user); every
//! signed-in caller reads theirs evaluated at `GET /api/{v1,v2}/app/feature-flags`.
//!
//! Flags are one small DynamoDB partition (`aloft_store::FlagRepo`). Evaluations read it
//! through a per-instance cache of `FEATURE_FLAGS_CACHE_SECONDS` (default 30, 0 = none):
//! a write through an instance clears that instance's copy at once, and every other warm
//! instance sees the change within the TTL.

pub mod cache;
mod edits;
pub mod evaluate;
mod handlers;
pub mod model;
pub mod murmur3;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aloft_auth::{App, AppParts};
use aloft_config::{ConfigError, Env};
use aloft_http::{HttpConfig, openapi::versioned_document};
use aloft_store::{AwsClients, FlagRecord, FlagRepo, StoreError, Table, UserRepo};
use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

use crate::cache::TtlCache;

/// The TTL when `FEATURE_FLAGS_CACHE_SECONDS` is unset.
pub const DEFAULT_CACHE_SECONDS: u64 = 30;

/// What the flags function needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Flags {
    pub flags: FlagRepo,
    /// `check` reads a user's plan for `plan_based` flags.
    pub users: UserRepo,
    /// The flag list, shared by every clone of this instance's state.
    pub cache: TtlCache<Arc<[FlagRecord]>>,
}

impl AppParts for Flags {
    fn build(env: &Env, _aws: &AwsClients, table: &Table) -> Result<Self, ConfigError> {
        let seconds = env.parse_or("FEATURE_FLAGS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)?;
        Ok(Self {
            flags: FlagRepo::new(table.clone()),
            users: UserRepo::new(table.clone()),
            cache: TtlCache::new(Duration::from_secs(seconds)),
        })
    }
}

impl Flags {
    /// Every flag, from the cache while it is fresh, else one Query.
    pub async fn current(&self) -> Result<Arc<[FlagRecord]>, StoreError> {
        let started = Instant::now();
        if let Some(flags) = self.cache.get(started) {
            return Ok(flags);
        }
        let generation = self.cache.generation();
        let flags: Arc<[FlagRecord]> = self.flags.list().await?.into();
        // Aged from the start of the read: the copy is no newer than that.
        self.cache.put(generation, started, flags.clone());
        Ok(flags)
    }
}

/// The function's state: the guard and [`Flags`].
pub type AppState = App<Flags>;

/// The function's app: routes under every API version, behind the guard and the edge.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    // matchit (axum 0.8) knows a parameter by its position, not its name, so `{flag_id}`
    // and `{flag_key}` may share one; the literal `key` segment wins over both.
    let routes = Router::new()
        .route(
            "/admin/feature-flags",
            get(handlers::list_flags).post(handlers::create_flag),
        )
        .route(
            "/admin/feature-flags/{flag_id}",
            get(handlers::get_flag)
                .patch(edits::update_flag)
                .delete(handlers::delete_flag),
        )
        .route(
            "/admin/feature-flags/key/{key}",
            get(handlers::get_flag_by_key),
        )
        .route(
            "/admin/feature-flags/{flag_id}/enable",
            post(edits::enable_flag),
        )
        .route(
            "/admin/feature-flags/{flag_id}/disable",
            post(edits::disable_flag),
        )
        .route(
            "/admin/feature-flags/{flag_id}/add-user",
            post(edits::add_flag_user),
        )
        .route(
            "/admin/feature-flags/{flag_id}/remove-user",
            post(edits::remove_flag_user),
        )
        .route(
            "/admin/feature-flags/{flag_key}/check",
            get(handlers::check_flag),
        )
        .route("/app/feature-flags", get(handlers::my_flags));
    state.serve(routes, http)
}

/// The OpenAPI document of this function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    versioned_document(FlagsApi::openapi())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::list_flags,
        handlers::get_flag,
        handlers::get_flag_by_key,
        handlers::create_flag,
        edits::update_flag,
        edits::enable_flag,
        edits::disable_flag,
        edits::add_flag_user,
        edits::remove_flag_user,
        handlers::delete_flag,
        handlers::check_flag,
        handlers::my_flags
    ),
    tags((name = "Feature Flags", description = "Flags managed by admins (boolean, percentage, user list, plan) and evaluated for the caller"))
)]
struct FlagsApi;
