//! Why a per-connection operation of [`Net`](super::Net) did not happen.

use std::fmt;

/// Why a per-connection operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// No such connection: never existed, or already reported by [`Net::poll_gone`].
    Unknown,
    /// recv: the peer closed its side and every byte it sent has been read.
    /// send: our sending side is closed.
    Closed,
    /// The connection was reset by the peer, aborted, or timed out.
    Reset,
    /// connect: no address of ours can reach the remote, or the remote is unspecified/port 0.
    Unaddressable,
    /// connect: `max_connections` reached, or no free ephemeral port.
    Exhausted,
    /// listen: port 0.
    InvalidPort,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnError::Unknown => "unknown connection",
            ConnError::Closed => "connection closed",
            ConnError::Reset => "connection reset",
            ConnError::Unaddressable => "remote address unreachable from our addresses",
            ConnError::Exhausted => "no socket or ephemeral port left",
            ConnError::InvalidPort => "invalid port",
        })
    }
}

impl std::error::Error for ConnError {}
