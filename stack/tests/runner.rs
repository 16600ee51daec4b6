//! `runner::run`: the one event loop. Its turns, its stop, and its signal mask: SIGINT is
//! blocked while a turn runs and delivered by the wait, so a stop signal that lands between
//! the loop's check of its flag and the wait is never lost.

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use stack::device::memory;
use stack::runner::{self, Driver};
use stack::{Clock, Duration, Instant, Net};

fn net() -> Net {
    let (a, _b) = memory::pair(MTU);
    Net::with_link(Box::new(a), &config(SERVER_IP), Instant::ZERO).unwrap()
}

/// Whether SIGINT is blocked for the calling thread now.
fn sigint_blocked() -> bool {
    // SAFETY: a null new set only reads the mask into `current`, a live local initialised by
    // sigemptyset before the call.
    unsafe {
        let mut current: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut current);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current),
            0
        );
        libc::sigismember(&current, libc::SIGINT) == 1
    }
}

/// Counts turns and stops; ends after `turns` turns, or at once on stop when `stop_ends`.
struct Counting {
    turns: usize,
    limit: usize,
    stops: usize,
    stop_ends: bool,
    /// SIGINT was blocked during every turn.
    blocked_in_turns: bool,
    /// Raise SIGINT at this thread during this turn.
    raise_at: Option<usize>,
}

impl Counting {
    fn new(limit: usize) -> Self {
        Counting {
            turns: 0,
            limit,
            stops: 0,
            stop_ends: false,
            blocked_in_turns: true,
            raise_at: None,
        }
    }
}

impl Driver for Counting {
    type Output = (usize, usize);

    fn handle(&mut self, _net: &mut Net, _now: Instant) -> ControlFlow<(usize, usize)> {
        self.turns += 1;
        self.blocked_in_turns &= sigint_blocked();
        if self.raise_at == Some(self.turns) {
            // SAFETY: signals this thread; the test installed a handler for SIGINT first.
            unsafe {
                libc::pthread_kill(libc::pthread_self(), libc::SIGINT);
            }
        }
        if self.turns >= self.limit {
            ControlFlow::Break((self.turns, self.stops))
        } else {
            ControlFlow::Continue(())
        }
    }

    fn poll_delay(&self, _now: Instant) -> Option<Duration> {
        Some(Duration::ZERO)
    }

    fn stop(&mut self, _net: &mut Net, _now: Instant) -> ControlFlow<(usize, usize)> {
        self.stops += 1;
        if self.stop_ends {
            ControlFlow::Break((self.turns, self.stops))
        } else {
            ControlFlow::Continue(())
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// All in one test: the SIGINT handler and STOP are process-wide.
#[test]
fn turns_stop_and_signal_mask() {
    // Turns until the driver breaks; SIGINT blocked during each, the mask restored after.
    let mut net = net();
    assert!(!sigint_blocked());
    let mut driver = Counting::new(3);
    let out = runner::run(&mut net, &Clock::new(), &mut driver, &STOP).unwrap();
    assert_eq!(out, (3, 0));
    assert!(driver.blocked_in_turns, "SIGINT blocked while a turn runs");
    assert!(!sigint_blocked(), "the previous mask is back after the run");

    // A stop flag already set: stop runs once, before the first turn's handle, and the
    // driver decides what follows (here: two more turns).
    let stop = AtomicBool::new(true);
    let mut driver = Counting::new(3);
    assert_eq!(
        runner::run(&mut net, &Clock::new(), &mut driver, &stop).unwrap(),
        (3, 1)
    );
    let mut driver = Counting::new(100);
    driver.stop_ends = true;
    assert_eq!(
        runner::run(&mut net, &Clock::new(), &mut driver, &stop).unwrap(),
        (0, 1),
        "a stop that breaks ends the run before any turn"
    );

    // SIGINT raised in the middle of a turn (after the flag was checked) stays pending while
    // the turn runs, is delivered by the wait, and the next turn stops.
    // SAFETY: the handler only stores to an atomic; the action is fully initialised.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()),
            0
        );
    }
    let mut driver = Counting::new(1000);
    driver.stop_ends = true;
    driver.raise_at = Some(2);
    let (turns, stops) = runner::run(&mut net, &Clock::new(), &mut driver, &STOP).unwrap();
    assert_eq!(stops, 1);
    assert_eq!(turns, 2, "stopped at the turn after the signal");
    assert!(STOP.load(Ordering::SeqCst));
}
