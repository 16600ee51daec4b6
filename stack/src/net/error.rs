//! Why an operation of [`Net`](super::Net) did not happen: one small enum per operation, so a
//! caller matches only the answers its call can give.

use std::fmt;

/// The connection id is not in the table: it never existed, or [`Net::poll_gone`] already
/// reported it. The only failure of the per-connection queries and settings.
///
/// [`Net::poll_gone`]: super::Net::poll_gone
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownConn;

/// Why [`Net::recv`](super::Net::recv) read nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// No such connection (see [`UnknownConn`]).
    Unknown,
    /// The peer closed its side (FIN) and every byte it sent has been read.
    Closed,
    /// The connection was reset by the peer, aborted, or timed out.
    Reset,
}

/// Why [`Net::send`](super::Net::send) queued nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such connection (see [`UnknownConn`]).
    Unknown,
    /// Our sending side is closed ([`Net::close`](super::Net::close) was called).
    Closed,
    /// The connection was reset by the peer, aborted, or timed out.
    Reset,
}

/// Why [`Net::connect`](super::Net::connect) opened nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No address of ours can reach the remote, or the remote is unspecified or port 0.
    Unaddressable,
    /// `max_connections` reached, or no free ephemeral port.
    Exhausted,
}

/// Why [`Net::listen`](super::Net::listen) did not listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenError {
    /// Port 0.
    InvalidPort,
    /// [`ListenOptions::rx_buffer`](super::ListenOptions::rx_buffer) above
    /// [`NetConfig::max_rx_buffer`](crate::NetConfig::max_rx_buffer) (the most a socket's
    /// slot holds).
    RxBufferTooLarge {
        /// The largest receive buffer this `Net` can give.
        max: usize,
    },
}

impl From<UnknownConn> for RecvError {
    fn from(_: UnknownConn) -> Self {
        RecvError::Unknown
    }
}

impl From<UnknownConn> for SendError {
    fn from(_: UnknownConn) -> Self {
        SendError::Unknown
    }
}

impl fmt::Display for UnknownConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown connection")
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Unknown => "unknown connection",
            RecvError::Closed => "the peer closed the connection",
            RecvError::Reset => "connection reset",
        })
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Unknown => "unknown connection",
            SendError::Closed => "our side of the connection is closed",
            SendError::Reset => "connection reset",
        })
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::Unaddressable => "remote address unreachable from our addresses",
            ConnectError::Exhausted => "no socket or ephemeral port left",
        })
    }
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::InvalidPort => f.write_str("invalid port"),
            ListenError::RxBufferTooLarge { max } => {
                write!(f, "receive buffer larger than max_rx_buffer ({max} bytes)")
            }
        }
    }
}

impl std::error::Error for UnknownConn {}
impl std::error::Error for RecvError {}
impl std::error::Error for SendError {}
impl std::error::Error for ConnectError {}
impl std::error::Error for ListenError {}
