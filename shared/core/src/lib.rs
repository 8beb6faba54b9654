//! The kernel every Aloft crate shares, below the store and the HTTP edge.
//!
//! One error type ([`ApiError`]) and its envelope `{"error": {"code", "message",
//! "details"}}`; list paging ([`PageParams`] in, [`Page`] out, cursors and the
//! [`MAX_EXAMINED`] bound); timestamps; and the per-request telemetry the edge reports
//! (the [`aws_usage`] counter, the [`cold_start`] marks, the [`trace`] context). Nothing here knows a route, a
//! table or a token.

pub mod aws_usage;
pub mod cold_start;
pub mod envelope;
mod error;
mod pagination;
pub mod timestamp;
pub mod trace;

pub use error::{ApiError, ErrorCode, InternalCause};
pub use pagination::{MAX_EXAMINED, Page, PageParams, PageRequest, Position, Slice};
