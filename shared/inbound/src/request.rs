//! Reading the parts of a webhook request every scheme needs: a header, a bearer token,
//! the JSON body.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Rejection;

/// The value of header `name` (lower case), or [`Rejection::MissingSignature`].
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Rejection> {
    let value = headers.get(name).ok_or(Rejection::MissingSignature(name))?;
    value
        .to_str()
        .map_err(|_| Rejection::Malformed(format!("{name} is not visible ASCII")))
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let value = header(headers, "authorization")?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                return Err(Rejection::malformed("the Bearer token is empty"));
            }
            Ok(token)
        }
        _ => Err(Rejection::malformed("authorization is not a Bearer token")),
    }
}

/// The body as JSON. Parse errors are not passed on: they could quote the body.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, Rejection> {
    serde_json::from_slice(body).map_err(|_| Rejection::malformed("the body is not JSON"))
}

/// The fields a scheme needs from a JSON value, or `Malformed` naming what was expected.
pub(crate) fn fields<T: DeserializeOwned>(value: &Value, expected: &str) -> Result<T, Rejection> {
    T::deserialize(value).map_err(|_| Rejection::Malformed(format!("expected {expected}")))
}

/// Whether a signed timestamp is within `tolerance` seconds of now, either way: a
/// signature captured long ago cannot be replayed, and a clock far ahead is suspect too.
pub(crate) fn is_fresh(timestamp: i64, now_unix: i64, tolerance: u64) -> bool {
    timestamp.abs_diff(now_unix) <= tolerance
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(bearer(&with_authorization("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(&with_authorization("bearer abc")), Ok("abc"));
    }

    #[test]
    fn other_schemes_and_missing_header_are_told_apart() {
        assert!(matches!(
            bearer(&with_authorization("Basic YTpi")),
            Err(Rejection::Malformed(_))
        ));
        for value in ["Bearer", "Bearer   "] {
            assert!(matches!(
                bearer(&with_authorization(value)),
                Err(Rejection::Malformed(_))
            ));
        }
        assert_eq!(
            bearer(&HeaderMap::new()),
            Err(Rejection::MissingSignature("authorization"))
        );
    }

    #[test]
    fn freshness_is_symmetric_and_inclusive() {
        assert!(is_fresh(1_000, 1_300, 300));
        assert!(is_fresh(1_300, 1_000, 300));
        assert!(!is_fresh(1_000, 1_301, 300));
        assert!(!is_fresh(i64::MIN, i64::MAX, 300));
    }
}
