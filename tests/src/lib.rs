//! Harness for the netns integration tests: namespaces, TUN devices and `tunws` processes that clean up after themselves.
//!
//! Every test makes its own [`Netns`] (a network namespace holding a TUN device `tun0` whose kernel
//! side is 10.0.0.1/24 and fd00::1/64), starts [`Tunws`] inside it (the userspace stack answers as
//! 10.0.0.2), and drives it with kernel-socket clients that run inside the namespace through
//! [`Netns::run`]. Dropping a guard undoes what it set up, also when the test panics, so a failed
//! test leaves no namespace and no process behind.
//!
//! One file per concern: `namespace.rs` (namespaces, loss, veth pairs), `process.rs` (processes
//! and the tunws under test), `clients.rs` (kernel-socket clients, raw frames), `stats.rs`
//! (`/stats` and settling), `waits.rs` (waiting for conditions), `data.rs` (payloads, pcap
//! files, figures).

mod clients;
mod data;
mod namespace;
mod process;
mod stats;
mod waits;

use std::net::SocketAddr;

pub use clients::*;
pub use data::*;
pub use namespace::*;
pub use process::*;
pub use stats::*;
pub use tungstenite;
pub use waits::*;

/// Address of the kernel side of the TUN device in every test namespace.
pub const KERNEL_ADDR: &str = "10.0.0.1";
/// Address tunws answers on (its default `--addr 10.0.0.2/24`).
pub const TUNWS_ADDR: &str = "10.0.0.2";
/// Port tunws listens on (its default `--port 8080`).
pub const TUNWS_PORT: u16 = 8080;

/// `10.0.0.2:8080` as a socket address, the endpoint every client test connects to.
pub fn tunws_endpoint() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], TUNWS_PORT))
}

/// Fails a test at once, saying why, when the process is not root.
///
/// Creating namespaces and TUN devices needs CAP_NET_ADMIN. Every test that needs it is also
/// marked `#[ignore = "needs root: run scripts/test.sh"]`, so a plain `cargo test` lists it as
/// ignored (never as passed); `scripts/test.sh` and CI run as root with `--include-ignored`.
/// Run with `--include-ignored` as another user, the test fails here instead of passing
/// without having checked anything.
#[macro_export]
macro_rules! require_root {
    () => {
        assert!(
            $crate::is_root(),
            "needs root (CAP_NET_ADMIN): run scripts/test.sh, or this test as root"
        );
    };
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
