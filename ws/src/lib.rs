//! RFC 6455 WebSocket engine: no_std, allocation-free, sans-IO.
#![no_std]
#![forbid(unsafe_code)]

pub mod handshake;
pub use handshake::{HttpStatus, Request, RequestError, ResponseError, Upgrade};
