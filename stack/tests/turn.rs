//! The runner's turn (`Net::poll_ingress`, the application, `Net::poll_egress`): an answer
//! written in the turn that read its request leaves in that turn, as one packet that also
//! acknowledges the request (no separate pure ACK), and `poll_ingress` alone sends nothing.

mod common;

use std::sync::{Arc, Mutex};

use common::*;

/// What the server put on the wire: (payload length, ACK number) per packet.
type Sent = Arc<Mutex<Vec<(usize, u32)>>>;

fn watch_server(pair: &mut Pair) -> Sent {
    let sent: Sent = Arc::default();
    let log = sent.clone();
    *pair.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
        if let Some(tcp) = tcp_of(packet) {
            log.lock()
                .unwrap()
                .push((tcp.payload().len(), tcp.ack_number().0 as u32));
        }
        false
    }));
    sent
}

#[test]
fn an_echo_leaves_in_its_turn_as_one_packet_carrying_the_ack() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    pair.run_for(stack::Duration::from_millis(50));
    let sent = watch_server(&mut pair);
    let mut acks = Vec::new();
    for round in 0..5u8 {
        let request = [b'q', round, 1, 2, 3, 4, 5, 6];
        assert_eq!(pair.client.send(cid, &request).unwrap(), request.len());
        pair.client.poll(pair.now);
        sent.lock().unwrap().clear();

        // The first half reads the request and tells the application; it sends nothing.
        assert!(pair.server.poll_ingress(pair.now));
        assert!(
            sent.lock().unwrap().is_empty(),
            "poll_ingress sent {:?}",
            sent.lock().unwrap()
        );
        assert_eq!(pair.server.poll_ready(), Some(sid));
        let mut buf = [0u8; 64];
        let n = pair.server.recv(sid, &mut buf).unwrap();
        assert_eq!(&buf[..n], &request);

        // The answer, then the second half: one packet, the answer, acknowledging the request.
        let answer = [b'a', round];
        assert_eq!(pair.server.send(sid, &answer).unwrap(), answer.len());
        pair.server.poll_egress(pair.now);
        let out = sent.lock().unwrap().clone();
        assert_eq!(out.len(), 1, "round {round}: {out:?}");
        assert_eq!(
            out[0].0,
            answer.len(),
            "round {round}: the packet is the answer"
        );
        acks.push(out[0].1);

        pair.client.poll(pair.now);
        let mut got = [0u8; 8];
        assert_eq!(pair.client.recv(cid, &mut got), Ok(answer.len()));
        assert_eq!(&got[..2], &answer);
    }
    // Each answer acknowledged its whole request: the ACK number rose by one request a turn.
    for pair in acks.windows(2) {
        assert_eq!(pair[1].wrapping_sub(pair[0]), 8, "{acks:?}");
    }
}
