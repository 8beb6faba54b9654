//! Schemes built on a secret we share with the provider: HMAC-SHA256 signatures (Stripe,
//! Svix) and a secret sent as is (Supabase). Every comparison runs in constant time, so
//! response timing tells an attacker nothing about how much of a guess was right.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// Whether any of `candidates` is the HMAC-SHA256 under `key` of `parts` joined together.
/// Several candidates exist while a provider rotates its secret.
pub(crate) fn any_hmac_matches(
    key: &[u8],
    parts: &[&[u8]],
    candidates: impl IntoIterator<Item = Vec<u8>>,
) -> bool {
    // HMAC accepts a key of any length, so this cannot fail; refusing is the safe answer.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    let expected = mac.finalize().into_bytes();
    // Every candidate is compared, no early exit.
    candidates
        .into_iter()
        .fold(Choice::from(0), |found, candidate| {
            found | expected.as_slice().ct_eq(&candidate)
        })
        .into()
}

/// Whether `given` is the secret. Both are hashed first so the comparison is between
/// equal lengths and does not reveal the secret's length either.
pub(crate) fn is_secret(given: &[u8], secret: &[u8]) -> bool {
    Sha256::digest(given).ct_eq(&Sha256::digest(secret)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231, test case 2.
    const KEY: &[u8] = b"Jefe";
    const MESSAGE: &[u8] = b"what do ya want for nothing?";
    const DIGEST: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn hmac_matches_the_rfc_vector_whichever_candidate_carries_it() {
        let right = hex::decode(DIGEST).unwrap();
        assert!(any_hmac_matches(KEY, &[MESSAGE], [right.clone()]));
        assert!(any_hmac_matches(
            KEY,
            &[b"what do ya want ", b"for nothing?"],
            [vec![0; 32], right]
        ));
        assert!(!any_hmac_matches(KEY, &[MESSAGE], [vec![0; 32]]));
        assert!(!any_hmac_matches(KEY, &[MESSAGE], []));
    }

    #[test]
    fn secret_comparison_needs_every_byte() {
        assert!(is_secret(b"s3cret", b"s3cret"));
        assert!(!is_secret(b"s3cre", b"s3cret"));
        assert!(!is_secret(b"", b"s3cret"));
    }
}
