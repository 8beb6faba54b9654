//! Where outgoing webhooks may go. Subscribers choose the URL, so without a check they
//! could make us call our own network (the instance metadata service, localhost). Deployed
//! stages accept only `https` to globally reachable addresses ([`is_global`]): a name is
//! checked at subscription time, and at delivery the sender's client connects only to
//! addresses it checked itself, from its one resolution (no second lookup a rebinding DNS
//! server could answer differently). The local stack may call its own receivers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        if !self.allow_private && !public_host(host) {
            return Err("must point to a public host".into());
        }
        Ok(uri)
    }

    /// Whether a resolved address may be called.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_global(ip)
    }
}

/// Whether a URL's host may be a public one: a global IP address in its standard form,
/// or a name that is not local. A host whose last label is a number (`2130706433`,
/// `0x7f.1`, `127.1`) is an IPv4 address in another encoding, which resolvers accept:
/// refused rather than decoded.
fn public_host(host: &str) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(literal) = name.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return literal
            .parse::<Ipv6Addr>()
            .is_ok_and(|v6| is_global(v6.into()));
    }
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return is_global(v4.into());
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    let numeric = last.starts_with("0x") || last.bytes().all(|b| b.is_ascii_digit());
    !(numeric || name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal"))
}

/// IPv4 blocks that are not globally reachable unicast: the IANA IPv4 Special-Purpose
/// Address Registry (all of it, including the few globally reachable anycast entries,
/// which no webhook receiver needs), multicast and the reserved 240/4.
const SPECIAL_V4: [(Ipv4Addr, u8); 18] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (carrier-grade NAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link local (the instance metadata service)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 31, 196, 0), 24), // AS112-v4
    (Ipv4Addr::new(192, 52, 193, 0), 24), // AMT
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // deprecated 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(192, 175, 48, 0), 24), // direct delegation AS112
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and the broadcast address
];

/// IPv6 blocks inside global unicast (2000::/3) that the IANA IPv6 Special-Purpose
/// Address Registry lists. Everything outside 2000::/3 is refused anyway: loopback,
/// unspecified, IPv4-mapped and -compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`,
/// `64:ff9b:1::/48`), discard, unique and link local, site local (`fec0::/10`),
/// multicast.
const SPECIAL_V6: [(Ipv6Addr, u8); 4] = [
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, Teredo
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4, which embeds any IPv4 address
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
];

/// Whether `ip` is a globally reachable unicast address: outside every special-purpose
/// block above.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            !SPECIAL_V4
                .iter()
                .any(|(net, len)| (bits ^ u32::from(*net)) >> (32 - len) == 0)
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let in_block = |net: Ipv6Addr, len: u8| (bits ^ u128::from(net)) >> (128 - len) == 0;
            in_block(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
                && !SPECIAL_V6.iter().any(|(net, len)| in_block(*net, *len))
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
            "https://[::ffff:8.8.8.8]/hook",
            "https://[64:ff9b::a00:1]/hook",
            "https://[::127.0.0.1]/hook",
            "https://0.0.0.0/hook",
            "https://[fec0::1]/hook",
            "https://[2002:a00:1::]/hook",
            "https://[fd00:ec2::254]/hook",
            "https://100.100.100.200/hook",
            "ftp://example.com",
            "https://2130706433/hook",
            "https://0x7f000001/hook",
            "https://127.1/hook",
            "https://0177.0.0.1/hook",
            "https://LOCALHOST./hook",
            "https://metadata.google.internal/hook",
            "not a url",
            "/relative",
        ] {
            assert!(deployed.check_url(bad).is_err(), "{bad} was accepted");
        }
        assert!(deployed.check_url("https://hooks.example.com/in").is_ok());
        assert!(deployed.check_url("https://8.8.8.8/in").is_ok());
        assert!(deployed.check_url("https://[2606:4700::1111]/in").is_ok());
        let local = TargetPolicy {
            allow_private: true,
        };
        assert!(local.check_url("http://127.0.0.1:9999/hook").is_ok());
    }

    /// Every encoding of an address outside global unicast that a URL parser or a
    /// resolver accepts is refused at subscription time.
    mod encodings {
        use super::*;
        use proptest::prelude::*;

        fn special_v4() -> impl Strategy<Value = Ipv4Addr> {
            (0..SPECIAL_V4.len(), any::<u32>()).prop_map(|(i, host)| {
                let (net, len) = SPECIAL_V4[i];
                let mask = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                Ipv4Addr::from((u32::from(net) & !mask) | (host & mask))
            })
        }

        /// The host forms of `v4`: dotted, decimal, hex, octal, short, and embedded in
        /// each IPv6 form that carries an IPv4 address.
        fn hosts(v4: Ipv4Addr) -> Vec<String> {
            let [a, b, c, d] = v4.octets();
            let n = u32::from(v4);
            let [h1, h2] = [(n >> 16) as u16, n as u16];
            vec![
                v4.to_string(),
                n.to_string(),
                format!("0x{n:x}"),
                format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
                format!("{a}.{}", n & 0x00ff_ffff),
                format!("{v4}."),
                format!("[::ffff:{v4}]"),
                format!("[::ffff:{h1:x}:{h2:x}]"),
                format!("[::{v4}]"),
                format!("[64:ff9b::{v4}]"),
                format!("[64:ff9b:1::{h1:x}:{h2:x}]"),
                format!("[2002:{h1:x}:{h2:x}::1]"),
            ]
        }

        proptest! {
            #[test]
            fn special_ipv4_addresses_are_refused_in_every_encoding(v4 in special_v4()) {
                let deployed = TargetPolicy { allow_private: false };
                for host in hosts(v4) {
                    let url = format!("https://{host}/hook");
                    prop_assert!(deployed.check_url(&url).is_err(), "{} was accepted", url);
                }
            }

            #[test]
            fn ipv6_outside_global_unicast_is_refused(bits in any::<u128>()) {
                let v6 = Ipv6Addr::from(bits);
                let deployed = TargetPolicy { allow_private: false };
                let accepted = deployed.check_url(&format!("https://[{v6}]/hook")).is_ok();
                prop_assert_eq!(accepted, is_global(v6.into()));
                if bits >> 125 != 0b001 {
                    prop_assert!(!accepted, "{} is outside 2000::/3", v6);
                }
            }
        }
    }
}
