//! The HTTP edge every Aloft function shares.
//!
//! v1 bare / v2 `data`+`meta` response shaping; `X-Request-ID`; version, deprecation and
//! security headers; JSON, query and paging extractors whose rejections are the kernel's
//! envelope (`aloft_core::ApiError`); and [`edge`], the layer stack every HTTP function
//! applies in one call.
//!
//! A function writes its routes with paths relative to the version prefix
//! (`/public/health`), mounts them under `/api/v1` and `/api/v2` with [`versioned`], and
//! documents them with [`openapi::versioned_document`]. The document is built only when
//! asked for (by the docs function), never on a function's cold start.

mod config;
mod edge;
pub mod etag;
mod extract;
pub mod metrics;
pub mod openapi;
pub mod otlp;
mod paging;
mod reply;
mod request_id;
mod version;

pub use config::{Deprecation, HttpConfig};
pub use edge::{CallerId, edge, init_tracing, run, subscriber};
pub use extract::{Json, Query};
pub use openapi::versioned;
pub use paging::Paging;
pub use reply::Reply;
pub use request_id::{RequestId, TraceHeader};
pub use version::ApiVersion;
