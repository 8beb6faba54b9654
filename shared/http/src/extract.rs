//! Body and query extractors whose rejections are our envelope.
//!
//! Syntax errors are 400 `BAD_REQUEST`; a well-formed body or query whose field breaks
//! a type rule is 422 `VALIDATION_ERROR` with `details.field`; a body over the limit
//! is 413.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
};
use http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use aloft_core::ApiError;

/// A JSON request body, parsed with field-level error reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "Expected a JSON body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
                _ => ApiError::BadRequest("Could not read the request body".into()),
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime_essence::Essence>().ok())
        .is_some_and(|essence| essence.is_json())
}

/// Parses a JSON body: broken syntax is 400, a broken field rule 422 naming the field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // JSON is UTF-8; checked up front, as fields the type ignores are skipped unchecked.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("Malformed JSON: the body is not UTF-8".into()))?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        // Whether the body is JSON at all decides 400 or 422: serde_json's own category
        // does not (it stops at the first wrong field before reading the rest, and calls
        // `false` for an enum "expected value", a syntax error). `Value`, as `IgnoredAny`
        // would let numbers past an f64 and lone surrogate escapes through.
        if let Err(syntax) = serde_json::from_str::<serde_json::Value>(text) {
            return malformed(&syntax);
        }
        let field = field_name(err.path().to_string());
        let inner = err.into_inner();
        match inner.classify() {
            Category::Data => ApiError::validation(field, strip_position(&inner)),
            _ => ApiError::validation(field, "invalid value for this field"),
        }
    })?;
    // Reading one value stops after it: `{"a":1}garbage` is not a JSON body either.
    deserializer.end().map_err(|err| malformed(&err))?;
    Ok(value)
}

fn malformed(err: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("Malformed JSON: {}", strip_position(err)).into())
}

/// Query parameters, with 422 naming the parameter whose value is unusable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError::validation(field_name(field), err.into_inner().to_string())
            })
    }
}

/// `serde_path_to_error` says `.` for the root; a missing field at the root is reported
/// by serde as "missing field `x`", which names it better than the path does.
fn field_name(path: String) -> String {
    if path == "." { "body".to_owned() } else { path }
}

/// serde_json appends " at line 1 column 7"; clients do not need our parser positions.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Just enough media-type parsing to accept `application/json; charset=utf-8` and
/// `application/problem+json` without pulling in a MIME crate.
mod mime_essence {
    pub struct Essence(String);

    impl std::str::FromStr for Essence {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let essence = s.split(';').next().ok_or(())?.trim().to_ascii_lowercase();
            Ok(Essence(essence))
        }
    }

    impl Essence {
        pub fn is_json(&self) -> bool {
            self.0 == "application/json"
                || (self.0.starts_with("application/") && self.0.ends_with("+json"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Project {
        name: String,
        size: u32,
        #[serde(default)]
        visibility: Option<Visibility>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Visibility {
        Private,
        Public,
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let err = parse_json::<Project>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.code(), aloft_core::ErrorCode::BadRequest);
    }

    #[test]
    fn text_after_the_json_value_or_bytes_that_are_not_utf8_are_a_bad_request() {
        for body in [
            r#"{"name": "x", "size": 1}{"#,
            r#"{"name": "x", "size": 1} x"#,
        ] {
            let err = parse_json::<Project>(body.as_bytes()).unwrap_err();
            assert_eq!(err.code(), aloft_core::ErrorCode::BadRequest, "{body}");
        }
        let not_utf8 = b"{\"name\": \"x\", \"size\": 1, \"other\": \"\xff\"}";
        assert_eq!(
            parse_json::<Project>(not_utf8).unwrap_err().code(),
            aloft_core::ErrorCode::BadRequest
        );
        let surrounded_by_whitespace = " {\"name\": \"x\", \"size\": 1}\n";
        assert!(parse_json::<Project>(surrounded_by_whitespace.as_bytes()).is_ok());
    }

    #[test]
    fn wrong_field_type_is_a_validation_error_naming_the_field() {
        let err = parse_json::<Project>(br#"{"name": "x", "size": -1}"#).unwrap_err();
        match err {
            ApiError::Validation { field, .. } => assert_eq!(field, "size"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn enum_field_of_another_json_type_is_a_validation_error_naming_the_field() {
        for visibility in ["false", "1", "null", "[]", "\"secret\""] {
            let body = format!(r#"{{"name": "x", "size": 1, "visibility": {visibility}}}"#);
            match parse_json::<Project>(body.as_bytes()) {
                Err(ApiError::Validation { field, .. }) => assert_eq!(field, "visibility"),
                Ok(_) if visibility == "null" => {}
                other => panic!("{visibility}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn json_media_types_are_recognised() {
        let essence = |s: &str| s.parse::<mime_essence::Essence>().unwrap().is_json();
        assert!(essence("application/json; charset=utf-8"));
        assert!(essence("application/merge-patch+json"));
        assert!(!essence("text/plain"));
    }
}
