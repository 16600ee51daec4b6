//! Running a [`Server`] on the [`runner`] loop: serve until stopped, then close every
//! WebSocket with 1001 and wait for the peers up to [`SHUTDOWN_GRACE`].

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use ws::Instant;

use super::{SHUTDOWN_GRACE, Server};
use crate::clock::{delay_until, ws_instant};
use crate::runner::{self, Driver};
use crate::{Clock, Net};

/// Runs the server until `stop` is set (by a SIGINT/SIGTERM handler), then closes every
/// WebSocket with 1001, gives the peers up to a second to answer, flushes the middleware
/// (pcap) and returns. The loop is [`runner::run`]'s.
pub fn run(net: &mut Net, server: &mut Server, stop: &AtomicBool) -> io::Result<()> {
    runner::run(
        net,
        &Clock::new(),
        &mut Serving {
            server,
            shutdown_deadline: None,
        },
        stop,
    )
}

/// The server as the runner's [`Driver`]: serves until stopped, then until every connection
/// is gone or [`SHUTDOWN_GRACE`] has passed.
struct Serving<'a> {
    server: &'a mut Server,
    /// Set when the stop signal came.
    shutdown_deadline: Option<Instant>,
}

impl Driver for Serving<'_> {
    type Output = ();

    fn handle(&mut self, net: &mut Net, now: crate::Instant) -> ControlFlow<()> {
        self.server.handle(net, now);
        match self.shutdown_deadline {
            Some(deadline) if self.server.connections() == 0 || ws_instant(now) >= deadline => {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn poll_delay(&self, now: crate::Instant) -> Option<crate::Duration> {
        let shutdown = self
            .shutdown_deadline
            .map(|deadline| delay_until(deadline, ws_instant(now)));
        [self.server.poll_delay(now), shutdown]
            .into_iter()
            .flatten()
            .min()
    }

    fn stop(&mut self, net: &mut Net, now: crate::Instant) -> ControlFlow<()> {
        log::info!(
            "shutting down: closing {} connection(s)",
            self.server.connections()
        );
        self.server.shutdown(net, now);
        self.shutdown_deadline = Some(ws_instant(now) + SHUTDOWN_GRACE);
        ControlFlow::Continue(())
    }
}
