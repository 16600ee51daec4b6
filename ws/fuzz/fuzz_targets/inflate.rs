//! The permessage-deflate read path: arbitrary bytes as a server's frames to a client with the
//! extension agreed, read through the `Inflater` in arbitrary pieces. The first byte chooses
//! the window (8-15 bits), context takeover and the limits. Checked: the handle_read contract,
//! nothing after a Close or a failure, no piece longer than the window, no message longer
//! than the limit; and every message that came out, compressed again by our compressor at the
//! same window, inflates back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::deflate::{Agreement, Compressor, Inflater, WindowBits, max_compressed_len};
use ws::{Config, Connection, Event, Instant, Role};

const NOW: Instant = Instant::from_micros(0);

fuzz_target!(|data: &[u8]| {
    let [selector, sizes @ .., _, _, _] = data else { return };
    let bits = WindowBits::new(8 + (selector & 7)).expect("8..=15");
    let agreement = Agreement {
        send_window_bits: bits,
        send_no_context_takeover: selector & 8 != 0,
        receive_window_bits: bits,
        receive_no_context_takeover: selector & 8 != 0,
    };
    let config = if selector & 16 == 0 {
        Config::default()
    } else {
        Config { max_frame_size: 300, max_message_size: 5000, ..Config::default() }
    };
    let pieces = &sizes[..sizes.len().min(4)];
    let mut input = data[1 + pieces.len()..].to_vec();

    let messages = read_all(&mut input, pieces, config, &agreement);

    // Round trip of what came out: compress each message, one frame each, and read it back.
    let mut compressor = Compressor::new(bits);
    let mut frames = Vec::new();
    for (text, message) in &messages {
        let mut out = vec![0; max_compressed_len(message.len())];
        let n = compressor.compress(message, true, &mut out).expect("sized by max_compressed_len");
        frames.push(if *text { 0xC1 } else { 0xC2 });
        match n {
            0..=125 => frames.push(n as u8),
            _ => {
                frames.push(127);
                frames.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frames.extend_from_slice(&out[..n]);
    }
    let again = read_all(&mut frames, &[], Config::default(), &agreement);
    assert_eq!(again, messages, "our compressor's output did not inflate back");
});

/// Reads `input` in pieces of the given sizes (cycled; none: all at once) and returns the
/// whole messages (text?, bytes).
fn read_all(
    input: &mut [u8],
    pieces: &[u8],
    config: Config,
    agreement: &Agreement,
) -> Vec<(bool, Vec<u8>)> {
    let mut conn = Connection::new(Role::Client, config, || [0; 4], NOW);
    conn.set_compression(true);
    let window = vec![0u8; agreement.receive_window_bits.bytes()];
    let mut inflater = Inflater::new(window, agreement).expect("window of the agreed size");
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut finished = false;
    let default = [u8::MAX];
    let pieces = if pieces.is_empty() { &default[..] } else { pieces };
    let mut start = 0;
    for &size in pieces.iter().cycle() {
        if start >= input.len() {
            break;
        }
        let end = if pieces == default {
            input.len()
        } else {
            (start + usize::from(size).max(1)).min(input.len())
        };
        let piece = &mut input[start..end];
        let len = piece.len();
        let mut pos = 0;
        loop {
            let (consumed, event) = inflater.handle_read(&mut conn, &mut piece[pos..], NOW);
            assert!(consumed <= len - pos);
            pos += consumed;
            let Some(event) = event else {
                assert_eq!(pos, len, "no event but input left over");
                break;
            };
            assert!(!finished, "event after a Close or a failure");
            match event {
                Event::Data { kind, payload, first, fin } => {
                    assert!(payload.len() <= agreement.receive_window_bits.bytes());
                    if first {
                        current.clear();
                    }
                    current.extend_from_slice(payload);
                    assert!(current.len() as u64 <= config.max_message_size);
                    if fin {
                        messages.push((kind == ws::MessageKind::Text, current.clone()));
                    }
                }
                Event::Close { .. } | Event::Failed(_) | Event::TimedOut => finished = true,
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
        start = end;
    }
    messages
}
