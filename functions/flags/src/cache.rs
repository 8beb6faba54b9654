//! A value kept for a fixed time by one warm function instance.
//!
//! The flags function keeps the flag list here so evaluations cost no DynamoDB read while
//! it is fresh. An admin write through this instance invalidates it at once; other warm
//! instances keep their copy until it is `ttl` old, so a change is visible everywhere
//! within the TTL. Instants are passed in, so tests drive the clock.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

#[derive(Debug, Clone)]
pub struct TtlCache<T> {
    ttl: Duration,
    slot: Arc<Mutex<Slot<T>>>,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<(Instant, T)>,
    /// Bumped by every invalidation: a load that began before one must not be stored.
    generation: u64,
}

impl<T: Clone> TtlCache<T> {
    /// A cache whose values are fresh for `ttl`; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Arc::new(Mutex::new(Slot {
                value: None,
                generation: 0,
            })),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The value, if one was loaded less than `ttl` before `now`.
    pub fn get(&self, now: Instant) -> Option<T> {
        let slot = self.lock();
        let (loaded_at, value) = slot.value.as_ref()?;
        (now.saturating_duration_since(*loaded_at) < self.ttl).then(|| value.clone())
    }

    /// Taken before a load and handed to [`Self::put`] after it.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps `value`, read at `loaded_at`, unless the cache was invalidated since
    /// `generation` was taken (the value may predate that write).
    pub fn put(&self, generation: u64, loaded_at: Instant, value: T) {
        if self.ttl.is_zero() {
            return;
        }
        let mut slot = self.lock();
        if slot.generation == generation {
            slot.value = Some((loaded_at, value));
        }
    }

    /// Forgets the value: the next read loads again.
    pub fn invalidate(&self) {
        let mut slot = self.lock();
        slot.value = None;
        slot.generation = slot.generation.wrapping_add(1);
    }

    /// A panic while holding the lock leaves a plain value behind; it is still usable.
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_value_is_fresh_until_it_is_ttl_old() {
        let cache = TtlCache::new(MINUTE);
        let start = Instant::now();
        cache.put(cache.generation(), start, 1);
        assert_eq!(cache.get(start), Some(1));
        assert_eq!(cache.get(start + Duration::from_secs(59)), Some(1));
        assert_eq!(cache.get(start + MINUTE), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = TtlCache::new(Duration::ZERO);
        let start = Instant::now();
        cache.put(cache.generation(), start, 1);
        assert_eq!(cache.get(start), None);
    }

    #[test]
    fn invalidation_forgets_the_value_at_once() {
        let cache = TtlCache::new(MINUTE);
        let start = Instant::now();
        cache.put(cache.generation(), start, 1);
        cache.invalidate();
        assert_eq!(cache.get(start), None);
    }

    #[test]
    fn a_load_that_began_before_an_invalidation_is_not_kept() {
        let cache = TtlCache::new(MINUTE);
        let start = Instant::now();
        let before_the_write = cache.generation();
        cache.invalidate();
        cache.put(before_the_write, start, 1);
        assert_eq!(cache.get(start), None);
        cache.put(cache.generation(), start, 2);
        assert_eq!(cache.get(start), Some(2));
    }

    #[test]
    fn clones_share_one_value() {
        let cache = TtlCache::new(MINUTE);
        let clone = cache.clone();
        let start = Instant::now();
        cache.put(cache.generation(), start, 1);
        assert_eq!(clone.get(start), Some(1));
        clone.invalidate();
        assert_eq!(cache.get(start), None);
    }
}
