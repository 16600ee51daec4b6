//! A whole connection fed arbitrary bytes in arbitrary pieces, in either role. The first
//! bytes choose the role, the limits, the piece sizes and whether payloads are read in place
//! (`handle_read`) or copied out (`read_into`). Checked: the handle_read contract,
//! nothing after a Close or a failure, and everything the connection sends (echoes of the
//! data, pongs, close frames) is read without error by a peer of the opposite role.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::{Config, Connection, Event, Instant, MaskKeySource, OpCode, Role};

const NOW: Instant = Instant::from_micros(0);

fuzz_target!(|data: &[u8]| {
    let [selector, sizes @ .., _, _, _] = data else { return };
    let role = if selector & 1 == 0 { Role::Server } else { Role::Client };
    let config = if selector & 2 == 0 {
        Config::default()
    } else {
        Config { max_frame_size: 64, max_message_size: 200, ..Config::default() }
    };
    // Bit 2: payloads through `read_into` into an output buffer of 1..=32 bytes (bits 3-7)
    // instead of `handle_read` in place.
    let out_len = (selector & 4 != 0).then_some(usize::from(selector >> 3) + 1);
    let mut out = vec![0u8; out_len.unwrap_or(0)];
    let pieces = &sizes[..sizes.len().min(4)];
    let mut input = data[1 + pieces.len()..].to_vec();

    let mut keys = {
        let mut n = u32::from(*selector);
        move || {
            n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            n.to_be_bytes()
        }
    };
    let mut conn = Connection::new(role, config, &mut keys, NOW);
    let mut sent = Vec::new();
    let mut finished = false;
    let mut start = 0;
    for &size in pieces.iter().cycle() {
        if start >= input.len() {
            break;
        }
        let end = (start + usize::from(size).max(1)).min(input.len());
        let piece = &mut input[start..end];
        let len = piece.len();
        let mut pos = 0;
        loop {
            let (consumed, event) = if out_len.is_some() {
                conn.read_into(&piece[pos..], &mut out, NOW)
            } else {
                conn.handle_read(&mut piece[pos..], NOW)
            };
            assert!(consumed <= len - pos);
            pos += consumed;
            let Some(event) = event else {
                assert_eq!(pos, len);
                break;
            };
            assert!(!finished, "event after a Close or a failure");
            match event {
                Event::Data { kind, payload, first, fin } => {
                    let opcode = if first { kind.opcode() } else { OpCode::Continuation };
                    let header = conn.send_frame_header(opcode, fin, payload.len() as u64).expect("echo allowed");
                    let mut payload = payload.to_vec();
                    conn.mask_payload(&mut payload);
                    sent.extend_from_slice(&header);
                    sent.extend_from_slice(&payload);
                }
                Event::Close { .. } | Event::Failed(_) | Event::TimedOut => finished = true,
                Event::Ping(_) | Event::Pong(_) => {}
            }
            flush(&mut conn, &mut sent);
        }
        start = end;
    }
    flush(&mut conn, &mut sent);

    // The peer of the opposite role must accept everything we sent.
    let peer_role = if role == Role::Server { Role::Client } else { Role::Server };
    let mut peer = Connection::new(peer_role, Config::default(), || [1, 2, 3, 4], NOW);
    let mut pos = 0;
    loop {
        let (consumed, event) = peer.handle_read(&mut sent[pos..], NOW);
        pos += consumed;
        match event {
            Some(Event::Failed(error)) => panic!("peer rejected our output: {error}"),
            Some(_) => {}
            None => break,
        }
    }
});

fn flush<K: MaskKeySource>(conn: &mut Connection<K>, sent: &mut Vec<u8>) {
    let mut out = [0u8; ws::MAX_CONTROL_FRAME_LEN];
    while conn.wants_transmit() {
        let n = conn.poll_transmit(&mut out);
        assert!(n > 0);
        sent.extend_from_slice(&out[..n]);
    }
}
