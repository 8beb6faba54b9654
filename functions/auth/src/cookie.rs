//! The `aloft_refresh` cookie.

use http::{HeaderMap, HeaderValue, header};

use crate::REFRESH_TTL;

const NAME: &str = "aloft_refresh";

/// `Set-Cookie` carrying a refresh token: invisible to scripts, sent only over HTTPS,
/// only to our API, never cross-site.
pub(crate) fn set(token: &str) -> HeaderValue {
    attributes(token, REFRESH_TTL.as_secs())
}

/// `Set-Cookie` that deletes the cookie.
pub(crate) fn clear() -> HeaderValue {
    attributes("", 0)
}

fn attributes(value: &str, max_age: u64) -> HeaderValue {
    let cookie =
        format!("{NAME}={value}; HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age={max_age}");
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("aloft_refresh=; Max-Age=0"))
}

/// The refresh token from the request's `Cookie` headers, if any.
pub(crate) fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_http_only_secure_strict_and_scoped_to_the_api() {
        let value = set("abc");
        let text = value.to_str().unwrap();
        for attribute in [
            "aloft_refresh=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api",
        ] {
            assert!(text.contains(attribute), "{text}");
        }
    }

    #[test]
    fn reads_the_token_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; aloft_refresh=tok123"),
        );
        assert_eq!(read(&headers).as_deref(), Some("tok123"));
    }
}
