//! The error responses many routes share, declared once. A route lists the sets it can
//! answer with beside its own responses, which come after them and so win for the same
//! status with a more precise description:
//!
//! ```ignore
//! responses(
//!     SignedIn, JsonBody,
//!     (status = 201, description = "Created", body = Project),
//!     (status = 404, description = "No such project in the caller's tenant", body = ErrorBody),
//! )
//! ```
//!
//! Every set documents the envelope (`ErrorBody`) as the body; the status codes are the
//! ones the shared edge, the guard and the extractors really produce.

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses,
    openapi::{
        ContentBuilder, ObjectBuilder, Ref, RefOr, Type,
        header::HeaderBuilder,
        response::{Response, ResponseBuilder},
    },
};

/// 429 `RATE_LIMIT_EXCEEDED`: every route behind the guard's rate limiter (all but the
/// provider webhooks).
#[derive(Debug)]
pub struct RateLimited;

/// What a route that needs a caller can answer besides its own: 401 and 429.
#[derive(Debug)]
pub struct SignedIn;

/// What an admin route can answer besides its own: 401, 403 and 429.
#[derive(Debug)]
pub struct AdminOnly;

/// What reading a JSON body can answer: 400 (not JSON, or malformed), 413 (over
/// `MAX_BODY_BYTES`) and 422 (a field of the wrong type, missing, or breaking a rule).
#[derive(Debug)]
pub struct JsonBody;

/// 422: a query parameter of the wrong type or outside its range.
#[derive(Debug)]
pub struct InvalidQuery;

/// A response whose body is the error envelope.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn header(kind: Type, description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(kind))
        .description(Some(description))
        .build()
}

fn unauthenticated() -> (String, RefOr<Response>) {
    let response = error_response(
        "Missing, malformed, expired or revoked credentials, or a deactivated account \
         (`AUTHENTICATION_ERROR`)",
    )
    .header(
        "WWW-Authenticate",
        header(Type::String, "`Bearer` with the reason"),
    );
    ("401".into(), response.build().into())
}

fn forbidden() -> (String, RefOr<Response>) {
    let response = error_response(
        "The caller is not an admin, or uses an impersonation token (`AUTHORIZATION_ERROR`)",
    );
    ("403".into(), response.build().into())
}

fn rate_limited() -> (String, RefOr<Response>) {
    let response = error_response(
        "Over the rate limit (`RATE_LIMIT_EXCEEDED`); `details.retry_after` and `Retry-After` \
         say when to try again",
    )
    .header(
        "Retry-After",
        header(Type::Integer, "Seconds until the window resets"),
    );
    ("429".into(), response.build().into())
}

fn invalid_field(description: &str) -> (String, RefOr<Response>) {
    ("422".into(), error_response(description).build().into())
}

impl IntoResponses for RateLimited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([rate_limited()])
    }
}

impl IntoResponses for SignedIn {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([unauthenticated(), rate_limited()])
    }
}

impl IntoResponses for AdminOnly {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([unauthenticated(), forbidden(), rate_limited()])
    }
}

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "400".into(),
                error_response("The body is not JSON (`Content-Type`) or is malformed")
                    .build()
                    .into(),
            ),
            (
                "413".into(),
                error_response("The body is larger than the limit (`PAYLOAD_TOO_LARGE`)")
                    .build()
                    .into(),
            ),
            invalid_field(
                "A field is missing, of the wrong type or breaks a rule (`VALIDATION_ERROR`); \
                 `details.field` names it",
            ),
        ])
    }
}

impl IntoResponses for InvalidQuery {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([invalid_field(
            "A query parameter is of the wrong type or out of range (`VALIDATION_ERROR`); \
             `details.field` names it",
        )])
    }
}
