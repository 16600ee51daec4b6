//! The echo application (`tunws`'s `/echo`, the benchmarks' and Autobahn's testee): every
//! message goes back to its sender unchanged, same type and bytes.

use ws::MessageKind;

use super::{App, Outbox};
use crate::ConnId;

/// The echo application. It streams: each piece of a message is sent back as a frame as soon
/// as it arrives (first piece opens a message of the same type, the last one ends it), so a
/// 16 MiB message never sits in memory whole. The server's backpressure (a connection is not
/// read while its previous output is still queued) keeps each client's queue to about one
/// read buffer.
#[derive(Debug, Default)]
pub struct Echo;

impl App for Echo {
    fn streams(&self) -> bool {
        true
    }

    fn on_piece(
        &mut self,
        out: &mut Outbox<'_>,
        client: ConnId,
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) {
        // The only failure is "client no longer open", and then there is nobody to reply to.
        if let Err(e) = out.send_piece(client, kind, data, first, fin) {
            log::debug!("client {client}: echo not sent: {e}");
        }
    }
}
