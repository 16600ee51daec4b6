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

/// Converts the stack's clock reading to the `ws` engine's time.
pub(crate) fn ws_instant(now: Instant) -> ws::Instant {
    ws::Instant::from_micros(u64::try_from(now.total_micros()).unwrap_or(0))
}

/// Converts an engine deadline to a stack delay from `now` (zero if already due).
pub(crate) fn delay_until(deadline: ws::Instant, now: ws::Instant) -> Duration {
    Duration::from_micros(deadline.saturating_duration_since(now).as_micros())
}
