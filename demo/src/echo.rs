//! `/echo`: every message goes back to its sender unchanged, same type and bytes.

use stack::ConnId;
use stack::server::{App, Outbox};
use ws::MessageKind;

/// The echo application. Stateless: the server's backpressure (a connection is not read while
/// its previous reply is still queued) keeps each client's queue to about one message.
#[derive(Debug, Default)]
pub struct Echo;

impl App for Echo {
    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        // The only failure is "client no longer open", and then there is nobody to reply to.
        if let Err(e) = out.send(client, kind, data) {
            log::debug!("client {client}: echo not sent: {e}");
        }
    }
}
