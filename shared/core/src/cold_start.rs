//! Where a cold start's time goes. [`mark`] logs (at debug level, target
//! `aloft::cold_start`) the microseconds since `main` began, taken by [`begin`] in
//! `init_tracing`. With logging at `warn`, as deployed, a mark costs one level check.
//! `RUST_LOG=aloft::cold_start=debug` shows them (the README's init breakdown).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static MAIN: OnceLock<Instant> = OnceLock::new();
static FIRST_REQUEST: AtomicBool = AtomicBool::new(true);

/// Starts the clock; call first in `main`.
pub fn begin() {
    MAIN.get_or_init(Instant::now);
}

/// Logs that `phase` is done.
pub fn mark(phase: &'static str) {
    // The clock is read inside the event: only when the event is enabled.
    tracing::debug!(
        target: "aloft::cold_start",
        phase,
        since_main_us = u64::try_from(MAIN.get_or_init(Instant::now).elapsed().as_micros())
            .unwrap_or(u64::MAX),
        "cold start: {phase}",
    );
}

/// Marks `phase` for the first request of the process only.
pub fn mark_first_request(phase: &'static str) {
    if FIRST_REQUEST.load(Ordering::Relaxed) {
        mark(phase);
    }
}

/// Ends the first request's marks.
pub fn first_request_done() {
    // A plain load on every later request; the write happens once.
    if FIRST_REQUEST.load(Ordering::Relaxed) && FIRST_REQUEST.swap(false, Ordering::Relaxed) {
        mark("first response handled");
    }
}
