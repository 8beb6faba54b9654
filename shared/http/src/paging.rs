//! [`Paging`]: the one way a list handler reads `skip`, `limit` and `cursor`.

use aloft_core::{ApiError, PageParams, PageRequest};
use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::Deserialize;

use crate::Query;

/// The paging half of a list's query string; the list's filters are a `Query` of their
/// own beside it. Document it with `params(PageParams)` (or, for a list with another
/// default page size, a params type of its own).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    skip: u32,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Self>::from_request_parts(parts, state)
            .await
            .map(|Query(paging)| paging)
    }
}

impl Paging {
    /// The checked request of the list `scope` names (one string per list and caller,
    /// e.g. `projects:<tenant>:created_at`), 20 items unless `limit` says otherwise.
    pub fn parse(self, scope: &str) -> Result<PageRequest, ApiError> {
        self.parse_or_limit(scope, PageParams::default_limit())
    }

    /// As [`Paging::parse`], for a list whose page holds `default_limit` items.
    pub fn parse_or_limit(self, scope: &str, default_limit: u32) -> Result<PageRequest, ApiError> {
        PageParams {
            skip: self.skip,
            limit: self.limit.unwrap_or(default_limit),
            cursor: self.cursor,
        }
        .parse(scope)
    }
}
