//! permessage-deflate properties: the compressor's output inflates back to its input at every
//! window size, within a window of exactly that size; and any split of a stream of compressed
//! messages (in any fragmentation, pieces compressed on their own) gives the same messages.

mod harness;

use harness::{Normalised, Owned, T0, normalise, raw_frame};
use proptest::prelude::*;
use ws::deflate::{Agreement, Compressor, Inflater, WindowBits, max_compressed_len};
use ws::{Config, Connection, MessageKind, Role};

/// Bytes a compressor has something to do with: runs, repeats at all distances, random
/// stretches and text.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 1..2000usize).prop_map(|(b, n)| vec![b; n]),
        "[a-e ]{0,400}".prop_map(String::into_bytes),
    ];
    (
        prop::collection::vec(piece, 0..8),
        prop::collection::vec((0..40_000usize, 3..300usize), 0..6),
    )
        .prop_map(|(pieces, copies)| {
            let mut data: Vec<u8> = pieces.concat();
            // Copies of earlier stretches, far and near, for long back-references.
            for (from, len) in copies {
                if data.is_empty() {
                    break;
                }
                let from = from % data.len();
                let end = (from + len).min(data.len());
                let copy = data[from..end].to_vec();
                data.extend_from_slice(&copy);
            }
            data
        })
}

fn agreement(bits: u8) -> Agreement {
    let bits = WindowBits::new(bits).unwrap();
    Agreement {
        send_window_bits: bits,
        send_no_context_takeover: false,
        receive_window_bits: bits,
        receive_no_context_takeover: false,
    }
}

fn compress(compressor: &mut Compressor, data: &[u8], last: bool) -> Vec<u8> {
    let mut out = vec![0; max_compressed_len(data.len())];
    let n = compressor.compress(data, last, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Frames (as a server sends them) of one message whose payload is cut into `cuts` pieces,
/// each compressed on its own; RSV1 on the first frame only.
fn message_frames(
    compressor: &mut Compressor,
    kind: MessageKind,
    data: &[u8],
    cuts: &[usize],
) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    bounds.push(0);
    bounds.push(data.len());
    bounds.sort_unstable();
    bounds.dedup();
    if bounds.len() == 1 {
        bounds.push(0); // an empty message: one empty piece
    }
    let mut frames = Vec::new();
    let pieces = bounds.len() - 1;
    for (i, w) in bounds.windows(2).enumerate() {
        let (first, last) = (i == 0, i + 1 == pieces);
        let payload = compress(compressor, &data[w[0]..w[1]], last);
        let opcode = match (first, kind) {
            (false, _) => 0x0,
            (true, MessageKind::Text) => 0x1,
            (true, MessageKind::Binary) => 0x2,
        };
        let byte = if last { 0x80 } else { 0 } | if first { 0x40 } else { 0 } | opcode;
        frames.extend(raw_frame(byte, &payload, None));
    }
    frames
}

fn inflate_all(bytes: &[u8], agreement: &Agreement, pieces: &[usize]) -> Vec<Normalised> {
    let mut conn = Connection::new(Role::Client, Config::default(), || [0; 4], T0);
    conn.set_compression(true);
    let window = vec![0u8; agreement.receive_window_bits.bytes()];
    let mut inflater = Inflater::new(window, agreement).unwrap();
    let (events, _) = harness::feed_with(bytes, pieces, |input| {
        let (consumed, event) = inflater.handle_read(&mut conn, input, T0);
        (consumed, event.map(Owned::from))
    });
    normalise(&events)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// At every window size the compressor's back-references stay inside it: an inflater
    /// keeping exactly 2^bits bytes gets the message back.
    #[test]
    fn round_trip_at_every_window_size(data in payload()) {
        for bits in 8..=15u8 {
            let mut compressor = Compressor::new(WindowBits::new(bits).unwrap());
            let frames = message_frames(&mut compressor, MessageKind::Binary, &data, &[]);
            prop_assert_eq!(
                inflate_all(&frames, &agreement(bits), &[0]),
                vec![Normalised::Message(MessageKind::Binary, data.clone())],
                "window bits {}", bits
            );
        }
    }

    /// Several compressed messages, fragmented anyhow, read in any split of the bytes, give
    /// the same messages.
    #[test]
    fn any_split_gives_the_same_messages(
        messages in prop::collection::vec(
            (payload(), prop::collection::vec(any::<usize>(), 0..4), any::<bool>()),
            1..4,
        ),
        bits in 8..=15u8,
        pieces in prop::collection::vec(1..3000usize, 1..6),
    ) {
        let mut compressor = Compressor::new(WindowBits::new(bits).unwrap());
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (data, cuts, text) in &messages {
            // Text must be UTF-8: take the bytes' lossless hex as the text.
            let (kind, data) = if *text {
                let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                (MessageKind::Text, hex.into_bytes())
            } else {
                (MessageKind::Binary, data.clone())
            };
            bytes.extend(message_frames(&mut compressor, kind, &data, cuts));
            expected.push(Normalised::Message(kind, data));
        }
        let agreement = agreement(bits);
        let whole = inflate_all(&bytes, &agreement, &[0]);
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(inflate_all(&bytes, &agreement, &pieces), expected);
    }
}
