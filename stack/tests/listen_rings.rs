//! Receive rings chosen per listener (`Net::listen_with`): a listener that asks for a larger
//! ring lets the peer have that much unread data in flight, a plain listener keeps the
//! default, and asking beyond `NetConfig::max_rx_buffer` is refused (deterministic, no root).

mod common;

use common::*;
use stack::{ConnId, Duration, ListenError, ListenOptions, NetConfig};

const BULK: usize = 256 * 1024;
const DEFAULT: usize = 64 * 1024;

fn server_config() -> NetConfig {
    NetConfig {
        max_rx_buffer: BULK,
        ..config(SERVER_IP)
    }
}

/// Asks for a receive ring of `rx_buffer` bytes.
fn ring(rx_buffer: usize) -> ListenOptions {
    ListenOptions {
        rx_buffer: Some(rx_buffer),
    }
}

/// Connects once, sends `total` bytes from the client as fast as its send buffer allows,
/// never reading on the server; returns what the server holds unread once nothing moves.
fn unread_after_sending(pair: &mut Pair, total: usize) -> usize {
    let id: ConnId = pair.client.connect(Pair::server_addr()).unwrap();
    let data = pattern(total, 7);
    let mut sent = 0;
    pair.run_until(Duration::from_secs(2), |p| {
        while p.server.accept().is_some() {}
        if p.client.is_established(id) && sent < total {
            sent += p.client.send(id, &data[sent..]).unwrap();
        }
        false
    });
    pair.server.stats().rx_buffered
}

#[test]
fn a_listener_asking_for_a_bulk_ring_holds_that_much_unread() {
    let mut pair = Pair::new(server_config(), config(CLIENT_IP));
    let options = ring(BULK);
    pair.server.listen_with(PORT, options).unwrap();
    assert_eq!(unread_after_sending(&mut pair, 200_000), 200_000);
}

#[test]
fn a_plain_listener_keeps_the_default_ring_even_when_larger_ones_are_allowed() {
    let mut pair = Pair::new(server_config(), config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    assert_eq!(unread_after_sending(&mut pair, 200_000), DEFAULT);
}

#[test]
fn listening_again_without_options_gives_later_connections_the_default_ring_back() {
    let mut pair = Pair::new(server_config(), config(CLIENT_IP));
    let options = ring(BULK);
    pair.server.listen_with(PORT, options).unwrap();
    // The listeners opened with bulk rings are recycled by the second call.
    pair.server.listen(PORT).unwrap();
    assert_eq!(unread_after_sending(&mut pair, 200_000), DEFAULT);
}

#[test]
fn a_ring_beyond_max_rx_buffer_is_refused() {
    let mut pair = Pair::new(server_config(), config(CLIENT_IP));
    let options = ring(BULK + 1);
    assert_eq!(
        pair.server.listen_with(PORT, options),
        Err(ListenError::RxBufferTooLarge { max: BULK })
    );
    // Without max_rx_buffer no larger ring is reserved at all.
    let mut plain = Pair::new(config(SERVER_IP), config(CLIENT_IP));
    assert_eq!(
        plain.server.listen_with(PORT, ring(BULK)),
        Err(ListenError::RxBufferTooLarge { max: DEFAULT })
    );
}
