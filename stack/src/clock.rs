//! Monotonic time for the event loop.
//!
//! smoltcp's own `Instant::now()` reads the wall clock, which jumps; the stack instead counts
//! microseconds since the `Clock` was made, from `std::time::Instant`.

pub use smoltcp::time::{Duration, Instant};

/// A monotonic clock whose zero is the moment it was created.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: std::time::Instant,
}

impl Clock {
    /// Starts the clock at zero.
    pub fn new() -> Self {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    /// Time since the clock was created, as a smoltcp instant (µs resolution).
    pub fn now(&self) -> Instant {
        let micros = self.start.elapsed().as_micros();
        Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
