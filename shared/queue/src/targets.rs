//! Where outgoing webhooks may go. Subscribers choose the URL, so without a check they
//! could make us call our own network (the instance metadata service, localhost). Deployed
//! stages accept only `https` to public addresses, checked at subscription time by name
//! and at delivery time by the resolved address; the local stack may call its own
//! receivers.

use std::net::IpAddr;

use aloft_config::{ConfigError, Env, Stage};
use http::Uri;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`, default true only on the local stack.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let local = Stage::from_env(env) == Stage::Local;
        Ok(Self {
            allow_private: env.parse_or("WEBHOOK_ALLOW_PRIVATE_TARGETS", local)?,
        })
    }

    /// The URL if webhooks may be sent to it, else why not.
    pub fn check_url(&self, raw: &str) -> Result<Uri, String> {
        let uri: Uri = raw
            .parse()
            .map_err(|_| "must be an absolute URL".to_owned())?;
        let host = uri.host().ok_or("must be an absolute URL")?;
        match (uri.scheme_str(), self.allow_private) {
            (Some("https"), _) | (Some("http"), true) => {}
            _ => return Err("must be an https URL".into()),
        }
        if raw.len() > 2048 {
            return Err("must be at most 2048 characters".into());
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let private_name = host.eq_ignore_ascii_case("localhost") || host.ends_with(".internal");
        let private_ip = literal.parse::<IpAddr>().is_ok_and(|ip| !self.allows(ip));
        if !self.allow_private && (private_name || private_ip) {
            return Err("must point to a public host".into());
        }
        Ok(uri)
    }

    /// Whether a resolved address may be called.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployed_stages_refuse_private_and_plain_http_targets() {
        let deployed = TargetPolicy {
            allow_private: false,
        };
        for bad in [
            "http://example.com/hook",
            "https://localhost/hook",
            "https://127.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/hook",
            "https://[::1]/hook",
            "https://[::ffff:192.168.1.1]/hook",
            "ftp://example.com",
            "not a url",
            "/relative",
        ] {
            assert!(deployed.check_url(bad).is_err(), "{bad} was accepted");
        }
        assert!(deployed.check_url("https://hooks.example.com/in").is_ok());
        let local = TargetPolicy {
            allow_private: true,
        };
        assert!(local.check_url("http://127.0.0.1:9999/hook").is_ok());
    }
}
