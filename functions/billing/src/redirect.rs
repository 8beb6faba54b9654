//! The URLs Stripe sends the user back to: checkout's `success_url` and `cancel_url`,
//! the portal's `return_url`. Absolute `https` URLs; plain `http` only to this machine
//! and only in the local stack, where the web app runs on `http://localhost`.

use aloft_config::Stage;
use aloft_core::ApiError;

/// Stripe's own limit on these URLs is larger; no real redirect needs more.
const MAX_LENGTH: usize = 2048;

/// `value`, trimmed, if it is a redirect URL we accept; else 422 naming `field`.
pub fn redirect_url(field: &'static str, value: &str, stage: Stage) -> Result<String, ApiError> {
    let value = value.trim();
    let invalid = |rule: &str| ApiError::validation(field, format!("{field} {rule}"));
    if value.is_empty() {
        return Err(invalid("is required"));
    }
    if value.len() > MAX_LENGTH {
        return Err(invalid(&format!("must be at most {MAX_LENGTH} characters")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain spaces"));
    }
    let lower = value.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(invalid("must be an absolute https URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host_of(authority).ok_or_else(|| invalid("must name a valid host"))?;
    let local_http = stage == Stage::Local && matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if !(secure || local_http) {
        return Err(invalid("must use https"));
    }
    Ok(value.to_owned())
}

/// The host of `host[:port]`, if both parts are well formed; no user info.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:3000`.
        Some(rest) => {
            let end = rest.find(']')?;
            let port = rest[end + 1..].strip_prefix(':');
            if port.is_none() && end + 1 != rest.len() {
                return None;
            }
            (&authority[..end + 2], port)
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    (port_ok && host_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(value: &str, stage: Stage) -> bool {
        redirect_url("success_url", value, stage).is_ok()
    }

    #[test]
    fn https_urls_are_accepted_with_paths_queries_and_stripes_placeholder() {
        for url in [
            "https://app.example.com/billing/success",
            "https://app.example.com:8443/x?session_id={CHECKOUT_SESSION_ID}",
            "HTTPS://App.Example.com",
        ] {
            assert!(accepted(url, Stage::Deployed), "{url}");
        }
    }

    #[test]
    fn http_is_only_for_this_machine_in_the_local_stack() {
        assert!(accepted("http://localhost:3000/done", Stage::Local));
        assert!(accepted("http://127.0.0.1/done", Stage::Local));
        assert!(accepted("http://[::1]:3000/done", Stage::Local));
        assert!(!accepted("http://localhost:3000/done", Stage::Deployed));
        assert!(!accepted("http://app.example.com/done", Stage::Local));
    }

    #[test]
    fn relative_odd_and_hostless_urls_are_refused_naming_the_field() {
        for url in [
            "",
            "/billing/success",
            "app.example.com/x",
            "javascript:alert(1)",
            "ftp://example.com",
            "https://",
            "https://user@evil.com",
            "https://exa mple.com",
            "https://example.com:port",
            "https://exa..mple.com",
        ] {
            let error = redirect_url("cancel_url", url, Stage::Local).unwrap_err();
            match error {
                ApiError::Validation { field, .. } => assert_eq!(field, "cancel_url", "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
