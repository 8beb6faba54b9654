#!/usr/bin/env python3
"""Reference MurmurHash3 x86 32-bit, written from Austin Appleby's MurmurHash3.cpp
(smhasher), independent of the Rust code. It printed the vectors in
`tests/flags.rs` and `src/murmur3.rs`:

    python3 functions/flags/tests/murmur3_reference.py

When the `mmh3` package is importable (`pip install --target /tmp/mmh3lib mmh3`, then
PYTHONPATH=/tmp/mmh3lib), every vector is also checked against it.
"""

C1, C2, MASK = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF


def rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & MASK


def fmix(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h


def murmur3_32(data: bytes, seed: int = 0) -> int:
    h = seed & MASK
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * C1) & MASK
        k = rotl(k, 15)
        k = (k * C2) & MASK
        h ^= k
        h = rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & MASK
    tail = data[whole:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * C1) & MASK
        k = rotl(k, 15)
        k = (k * C2) & MASK
        h ^= k
    h ^= len(data) & MASK
    return fmix(h)


def bucket(flag_key: str, user_id: str) -> int:
    """Unleash's normalizedValue: murmur3_32("<group>:<id>", 0) % 100 + 1."""
    return murmur3_32(f"{flag_key}:{user_id}".encode(), 0) % 100 + 1


HASHES = [
    ("", 0),
    ("", 1),
    ("a", 0),
    ("ab", 0),
    ("abc", 0),
    ("abcd", 0),
    ("hello", 0),
    ("The quick brown fox jumps over the lazy dog", 0),
    ("héllo wörld", 0),
]

# The first two are the ones Unleash's Node client asserts in "normalized values are the
# same across node, java, and go clients" (normalizedValue('123', 'gr1') === 73, and
# ('999', 'groupX') === 25).
BUCKETS = [
    ("gr1", "123"),
    ("groupX", "999"),
    ("new_dashboard", "user_123"),
    ("new_dashboard", "user_124"),
    ("beta_feature", "user_123"),
    ("checkout.v2", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
    ("dark-mode", "42"),
    ("e2e-rollout", "synthetic-0"),
]

if __name__ == "__main__":
    try:
        import mmh3
    except ImportError:
        mmh3 = None
    for text, seed in HASHES:
        value = murmur3_32(text.encode(), seed)
        if mmh3 is not None:
            assert value == mmh3.hash(text.encode(), seed, signed=False), text
        print(f"({text!r}, {seed}) -> 0x{value:08x}")
    for flag, user in BUCKETS:
        value = murmur3_32(f"{flag}:{user}".encode())
        if mmh3 is not None:
            assert value == mmh3.hash(f"{flag}:{user}".encode(), 0, signed=False)
        print(f"{flag}:{user} -> 0x{value:08x} bucket {bucket(flag, user)}")
    print("checked against mmh3" if mmh3 is not None else "mmh3 not installed: not cross-checked")
