//! The permessage-deflate extension (RFC 7692): messages compressed with DEFLATE (RFC 1951),
//! RSV1 set on their first frame.
//!
//! - [`params`]: the extension's parameters, parsed from and emitted to
//!   `Sec-WebSocket-Extensions`.
//! - [`negotiate`]: the server's choice among the client's offers, the client's check of the
//!   answer, and the resulting [`Agreement`].
//! - [`inflate`]: the [`Inflater`] between the caller and [`crate::Connection::handle_read`].
//! - `compress` (feature `compress`): the `Compressor` for outgoing messages.
#[cfg(feature = "compress")]
pub mod compress;
pub mod inflate;
pub mod negotiate;
pub mod params;

#[cfg(feature = "compress")]
pub use compress::{Compressor, OutputTooSmall, max_compressed_len};
pub use inflate::{Inflater, TAIL, WindowTooSmall};
pub use negotiate::{
    Agreement, DeflatePolicy, ResponseExtensionError, accept_offer, check_response, client_offer,
};
pub use params::{
    ClientMaxWindowBits, DeflateParams, MAX_PARAMS_LEN, PERMESSAGE_DEFLATE, ParamError, WindowBits,
};
