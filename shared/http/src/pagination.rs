//! `skip`/`limit` pagination as the reference defines it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// Query parameters of a list: `skip` ≥ 0 (default 0), `limit` 1–100 (default 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Number of items to skip.
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    pub skip: u32,
    /// Maximum number of items to return.
    #[serde(default = "PageParams::default_limit")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: u32,
}

impl PageParams {
    pub const MAX_LIMIT: u32 = 100;

    /// 20, for query structs that carry `skip`/`limit` beside their own filters.
    pub fn default_limit() -> u32 {
        20
    }

    /// Checks the range rules a type cannot express.
    pub fn validate(self) -> Result<Self, ApiError> {
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return Err(ApiError::validation(
                "limit",
                "limit must be between 1 and 100",
            ));
        }
        Ok(self)
    }
}

impl Default for PageParams {
    fn default() -> Self {
        Self {
            skip: 0,
            limit: Self::default_limit(),
        }
    }
}

/// One page of a list: `{"items", "total", "skip", "limit"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub skip: u32,
    pub limit: u32,
}

impl<T> Page<T> {
    /// The page `params` selects from all the items of a list (already filtered and
    /// sorted), each shown as `view`; `total` counts them all.
    pub fn select<R>(all: Vec<R>, params: PageParams, view: impl FnMut(R) -> T) -> Self {
        Self {
            total: all.len() as u64,
            items: all
                .into_iter()
                .skip(params.skip as usize)
                .take(params.limit as usize)
                .map(view)
                .collect(),
            skip: params.skip,
            limit: params.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_outside_one_to_hundred_is_rejected() {
        for limit in [0, 101] {
            let err = PageParams { skip: 0, limit }.validate().unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::ValidationError);
        }
        assert!(
            PageParams {
                skip: 5,
                limit: 100
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn select_pages_and_counts_everything() {
        let params = PageParams { skip: 2, limit: 2 };
        let page = Page::select((1..=5).collect(), params, |n: i32| n * 10);
        assert_eq!((page.items, page.total), (vec![30, 40], 5));
        let past_the_end = Page::select(vec![1, 2], PageParams { skip: 5, limit: 2 }, |n| n);
        assert!(past_the_end.items.is_empty());
        assert_eq!(past_the_end.total, 2);
    }
}
