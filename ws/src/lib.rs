//! RFC 6455 WebSocket engine: no_std, allocation-free, sans-IO.
#![no_std]
#![forbid(unsafe_code)]
