//! Lists: the reference's `skip`/`limit`/`total` page, plus cursor paging (`cursor` in,
//! `next_cursor` out), so a client can walk a list of any size while every request reads
//! a bounded number of items ([`MAX_EXAMINED`]).
//!
//! A cursor is opaque to clients: base64url of a small JSON that names the list it
//! belongs to (a hash of its scope, e.g. `projects:<tenant>:created_at`) and a
//! [`Position`]. Decoding checks both, so a malformed or foreign cursor is a 422 naming
//! `cursor`, never a 500. It is not signed: a hand-made cursor can only start one of the
//! caller's own lists at another position, and positions are checked before use.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// Most items one list request examines to build its page, and (separately) to count
/// its `total` where no counter keeps it. A `skip` past it, a search, or a sort the key
/// order does not give stops there and says so (`truncated`, `total_exact`).
pub const MAX_EXAMINED: usize = 1_000;

/// Longest cursor accepted; ours are far shorter (a sort key is at most 1 KB).
const MAX_CURSOR_CHARS: usize = 2_048;

/// Query parameters of a list: `skip` ≥ 0 (default 0), `limit` 1–100 (default 20), and
/// `cursor`, the `next_cursor` of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Number of items to skip; cannot be combined with `cursor`. Reads grow with
    /// `skip`, so a skip past 1,000 items answers `truncated`: page with `cursor`.
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    pub skip: u32,
    /// Maximum number of items to return.
    #[serde(default = "PageParams::default_limit")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: u32,
    /// The `next_cursor` of the previous page: continues the list where it ended, at
    /// the same cost for every page. Opaque; valid only for the list that issued it.
    pub cursor: Option<String>,
}

impl PageParams {
    pub const MAX_LIMIT: u32 = 100;

    /// 20, for query structs that carry `skip`/`limit` beside their own filters.
    pub fn default_limit() -> u32 {
        20
    }

    /// Checks the range rules a type cannot express.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return Err(ApiError::validation(
                "limit",
                "limit must be between 1 and 100",
            ));
        }
        Ok(())
    }

    /// Checks the parameters and decodes the cursor of the list `scope` names (one
    /// string per list and caller, e.g. `projects:<tenant>:created_at`).
    pub fn parse(self, scope: &str) -> Result<PageRequest, ApiError> {
        self.validate()?;
        let params = self;
        let scope = scope_hash(scope);
        // A form sends an empty field for "no cursor".
        let cursor = params.cursor.filter(|c| !c.is_empty());
        let Some(cursor) = cursor else {
            return Ok(PageRequest {
                skip: params.skip,
                limit: params.limit,
                after: None,
                scope,
            });
        };
        if params.skip > 0 {
            return Err(ApiError::validation(
                "skip",
                "skip cannot be combined with cursor: the cursor already names the position",
            ));
        }
        let (skip, after) = match decode(&cursor, &scope)? {
            Position::After(key) => (0, Some(key)),
            Position::Offset(offset) => (offset, None),
        };
        Ok(PageRequest {
            skip,
            limit: params.limit,
            after,
            scope,
        })
    }
}

impl Default for PageParams {
    fn default() -> Self {
        Self {
            skip: 0,
            limit: Self::default_limit(),
            cursor: None,
        }
    }
}

/// Where a page starts or the next one would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Right after this sort key, in the list's order (lists read in key order).
    After(String),
    /// At this offset (lists held whole in memory, or sorted within a bounded read).
    Offset(u32),
}

/// A checked list request: `skip` (an offset cursor becomes one) or `after`, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub skip: u32,
    pub limit: u32,
    /// The sort key the page starts after (from a cursor).
    pub after: Option<String>,
    scope: String,
}

impl PageRequest {
    /// Items to find to fill this page and know whether another follows.
    pub fn wanted(&self) -> usize {
        (self.skip as usize)
            .saturating_add(self.limit as usize)
            .saturating_add(1)
    }
}

/// What a store read produced for one page, before it is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<R> {
    pub items: Vec<R>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
    pub total: u64,
    /// `false` when counting stopped at the bound and `total` is a lower bound.
    pub total_exact: bool,
    /// The read stopped at its bound before the page was complete.
    pub truncated: bool,
}

/// One page of a list: the reference's `{"items", "total", "skip", "limit"}`, plus
/// `next_cursor`, `total_exact` and `truncated`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items in the whole list (matching its filters); a lower bound when `total_exact`
    /// is `false`.
    pub total: u64,
    pub skip: u32,
    pub limit: u32,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// `false` when no counter keeps this list's size and counting stopped after 1,000
    /// items: `total` is then a lower bound.
    pub total_exact: bool,
    /// `true` when the request stopped at its bound of 1,000 items examined before the
    /// page was complete (a large `skip`, a search, or a sort other than the key order):
    /// `items` may be short; continue with `next_cursor` when there is one.
    pub truncated: bool,
}

impl<T> Page<T> {
    /// The page a store read produced, each item shown as `view`.
    pub fn from_slice<R>(slice: Slice<R>, request: &PageRequest, view: impl FnMut(R) -> T) -> Self {
        Self {
            items: slice.items.into_iter().map(view).collect(),
            total: slice.total,
            skip: request.skip,
            limit: request.limit,
            next_cursor: slice.next.map(|next| encode(&request.scope, next)),
            total_exact: slice.total_exact,
            truncated: slice.truncated,
        }
    }

    /// The page `request` selects from all the items of a list held in memory (already
    /// filtered and sorted; only for lists whose size is capped), each shown as `view`;
    /// `total` counts them all. Its cursors are offsets; a key cursor is foreign here.
    pub fn select<R>(
        all: Vec<R>,
        request: &PageRequest,
        view: impl FnMut(R) -> T,
    ) -> Result<Self, ApiError> {
        if request.after.is_some() {
            return Err(foreign());
        }
        let total = all.len();
        let end = (request.skip as usize).saturating_add(request.limit as usize);
        let items = all
            .into_iter()
            .skip(request.skip as usize)
            .take(request.limit as usize)
            .collect();
        let next = (end < total).then(|| Position::Offset(u32::try_from(end).unwrap_or(u32::MAX)));
        let slice = Slice {
            items,
            next,
            total: total as u64,
            total_exact: true,
            truncated: false,
        };
        Ok(Self::from_slice(slice, request, view))
    }
}

/// What a cursor holds: the scope hash of the list that issued it, and one of `a` (the
/// sort key the next page starts after) or `o` (its offset).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<u32>,
}

fn encode(scope: &str, position: Position) -> String {
    let mut cursor = Cursor {
        s: scope.to_owned(),
        ..Cursor::default()
    };
    match position {
        Position::After(key) => cursor.a = Some(key),
        Position::Offset(offset) => cursor.o = Some(offset),
    }
    // Serializing a struct of strings and numbers cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn decode(raw: &str, scope: &str) -> Result<Position, ApiError> {
    let malformed = || ApiError::validation("cursor", "cursor is not a cursor this API issued");
    if raw.len() > MAX_CURSOR_CHARS {
        return Err(malformed());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| malformed())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if cursor.s != scope {
        return Err(foreign());
    }
    match (cursor.a, cursor.o) {
        // DynamoDB keys are non-empty and at most 1 KB.
        (Some(key), None) if !key.is_empty() && key.len() <= 1024 => Ok(Position::After(key)),
        (None, Some(offset)) => Ok(Position::Offset(offset)),
        _ => Err(malformed()),
    }
}

fn foreign() -> ApiError {
    ApiError::validation(
        "cursor",
        "cursor belongs to another list (or another sort or filter of this one); start again without it",
    )
}

/// A short, stable name of `scope` (FNV-1a, 64 bits), so cursors do not spell out
/// tenant ids and stay valid across deployments.
fn scope_hash(scope: &str) -> String {
    let hash = scope.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(skip: u32, limit: u32, cursor: Option<String>) -> PageParams {
        PageParams {
            skip,
            limit,
            cursor,
        }
    }

    fn request(skip: u32, limit: u32) -> PageRequest {
        params(skip, limit, None).parse("things").unwrap()
    }

    #[test]
    fn limit_outside_one_to_hundred_is_rejected() {
        for limit in [0, 101] {
            let err = params(0, limit, None).validate().unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::ValidationError);
        }
        assert!(params(5, 100, None).validate().is_ok());
    }

    #[test]
    fn select_pages_counts_everything_and_continues_by_offset() {
        let page = Page::select((1..=5).collect(), &request(2, 2), |n: i32| n * 10).unwrap();
        assert_eq!((page.items, page.total), (vec![30, 40], 5));
        let next = page.next_cursor.unwrap();
        let following = params(0, 2, Some(next)).parse("things").unwrap();
        assert_eq!((following.skip, following.after.as_deref()), (4, None));
        let last = Page::select((1..=5).collect(), &following, |n: i32| n).unwrap();
        assert_eq!((last.items, last.next_cursor), (vec![5], None));
        let past_the_end = Page::select(vec![1, 2], &request(5, 2), |n| n).unwrap();
        assert!(past_the_end.items.is_empty());
        assert_eq!(past_the_end.total, 2);
    }

    #[test]
    fn a_key_cursor_round_trips_within_its_list() {
        let slice = Slice {
            items: vec![1],
            next: Some(Position::After("2026-01-10T12:00:00Z#p1".into())),
            total: 9,
            total_exact: true,
            truncated: false,
        };
        let page = Page::from_slice(slice, &request(0, 1), |n: i32| n);
        let cursor = page.next_cursor.unwrap();
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let next = params(0, 1, Some(cursor)).parse("things").unwrap();
        assert_eq!(next.after.as_deref(), Some("2026-01-10T12:00:00Z#p1"));
    }

    #[test]
    fn malformed_foreign_or_combined_cursors_are_rejected_with_422() {
        let issued = encode(&scope_hash("things"), Position::After("k".into()));
        let forged_empty = encode(&scope_hash("things"), Position::After(String::new()));
        let cases = [
            params(0, 20, Some("not a cursor!".into())).parse("things"),
            params(0, 20, Some(URL_SAFE_NO_PAD.encode("{}"))).parse("things"),
            params(0, 20, Some("x".repeat(5_000))).parse("things"),
            params(0, 20, Some(forged_empty)).parse("things"),
            params(0, 20, Some(issued.clone())).parse("other things"),
            params(3, 20, Some(issued)).parse("things"),
        ];
        for case in cases {
            let err = case.unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::ValidationError);
        }
    }

    #[test]
    fn an_empty_cursor_is_no_cursor() {
        let request = params(4, 20, Some(String::new())).parse("things").unwrap();
        assert_eq!((request.skip, request.after), (4, None));
    }

    #[test]
    fn an_in_memory_list_refuses_a_key_cursor() {
        let cursor = encode(&scope_hash("things"), Position::After("k".into()));
        let request = params(0, 20, Some(cursor)).parse("things").unwrap();
        assert!(Page::select(vec![1], &request, |n: i32| n).is_err());
    }
}
