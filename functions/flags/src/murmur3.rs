//! MurmurHash3 x86 32-bit and Unleash's bucketing over it.
//!
//! Twenty lines written from Austin Appleby's reference (smhasher's `MurmurHash3.cpp`)
//! rather than a crate: the function is tiny, fixed forever, and checked against vectors
//! from an independent implementation (`tests/murmur3_reference.py`, itself checked
//! against the `mmh3` package).

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// `MurmurHash3_x86_32(data, seed)`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut hash = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        hash ^= scramble(little_endian(block));
        hash = hash
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        hash ^= scramble(little_endian(tail));
    }
    // The reference mixes in the length as a 32-bit int: modulo 2^32, so `as` is right.
    finalize(hash ^ data.len() as u32)
}

/// Up to four bytes read as a little-endian word (the tail is zero-padded).
fn little_endian(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0, |word, &byte| (word << 8) | u32::from(byte))
}

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn finalize(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The user's bucket, 1–100, in a flag's rollout: Unleash's `normalizedValue`,
/// `murmur3_32("<flag_key>:<user_id>", 0) % 100 + 1` over the UTF-8 bytes (as Unleash's
/// Java and Go clients hash), so any Unleash client puts a user in the same bucket.
pub fn bucket(flag_key: &str, user_id: &str) -> u32 {
    murmur3_32(format!("{flag_key}:{user_id}").as_bytes(), 0) % 100 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `python3 functions/flags/tests/murmur3_reference.py` (cross-checked with
    /// `mmh3` 5.x); the first three are the well-known published vectors.
    const HASHES: [(&str, u32, u32); 9] = [
        ("", 0, 0),
        ("hello", 0, 0x248b_fa47),
        (
            "The quick brown fox jumps over the lazy dog",
            0,
            0x2e4f_f723,
        ),
        ("", 1, 0x514e_28b7),
        ("a", 0, 0x3c25_69b2),
        ("ab", 0, 0x9bbf_d75f),
        ("abc", 0, 0xb3dd_93fa),
        ("abcd", 0, 0x43ed_676a),
        ("héllo wörld", 0, 0x97f7_f274),
    ];

    #[test]
    fn hashes_match_the_reference_vectors() {
        for (text, seed, expected) in HASHES {
            assert_eq!(
                murmur3_32(text.as_bytes(), seed),
                expected,
                "{text:?} seed {seed}"
            );
        }
    }

    #[test]
    fn buckets_match_unleash() {
        // Unleash's clients assert these two across Node, Java and Go.
        assert_eq!(bucket("gr1", "123"), 73);
        assert_eq!(bucket("groupX", "999"), 25);
    }
}
