//! permessage-deflate micro-benchmarks: our compressor and `miniz_oxide`'s core inflater as the
//! `ws` crate uses them, against `flate2` (zlib's API over miniz_oxide, what a
//! tungstenite-style implementation would call) doing the same work in the same run.
//!
//! Inputs, 64 KiB each: chat-like text (words of a small vocabulary, as chat messages repeat
//! them) and random bytes (incompressible: the stored-block path).
//! - compress: one message, sync-flushed (RFC 7692 §7.2.1). flate2 at level 1, the fastest
//!   zlib level (greedy matching, as ours), and level 6, zlib's default.
//! - inflate: the same compressed bytes back into 64 KiB, from a fresh decoder each time.
//!   Ours through a 32 KiB wrapping window (what a connection keeps), flate2 into a flat buffer.
//!
//! Reported: throughput in input (uncompressed) bytes, and the compressed sizes once on stderr.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};
use std::hint::black_box;
use ws::deflate::{Compressor, TAIL, WindowBits, max_compressed_len};

const LEN: usize = 64 << 10;

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn chat_text() -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "hello",
        "the",
        "packet",
        "is",
        "on",
        "its",
        "way",
        "through",
        "tun0",
        "and",
        "smoltcp",
        "answers",
        "with",
        "a",
        "SYN-ACK",
        "websocket",
        "frame",
        "chat",
        "message",
        "who",
        "is",
        "there",
        "ok",
        "thanks",
    ];
    let mut next = xorshift(7);
    let mut text = Vec::with_capacity(LEN + 16);
    while text.len() < LEN {
        text.extend_from_slice(WORDS[(next() % WORDS.len() as u64) as usize].as_bytes());
        text.push(if next() % 8 == 0 { b'\n' } else { b' ' });
    }
    text.truncate(LEN);
    text
}

fn random_bytes() -> Vec<u8> {
    let mut next = xorshift(9);
    (0..LEN).map(|_| (next() >> 24) as u8).collect()
}

fn ours_compress(compressor: &mut Compressor, input: &[u8], out: &mut [u8]) -> usize {
    compressor.compress(input, true, out).expect("sized output")
}

fn flate2_compress(level: u32, input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut c = Compress::new(Compression::new(level), false);
    out.clear();
    c.compress_vec(input, out, FlushCompress::Sync)
        .expect("compress");
    out.len() - TAIL.len()
}

fn ours_inflate(compressed: &[u8], window: &mut [u8]) -> usize {
    let mut decoder = DecompressorOxide::new();
    let (mut total, mut pos, mut input) = (0, 0, compressed);
    let mut tail = &TAIL[..];
    loop {
        let (_, used, produced) =
            decompress(&mut decoder, input, window, pos, TINFL_FLAG_HAS_MORE_INPUT);
        input = &input[used..];
        total += produced;
        pos = (pos + produced) & (window.len() - 1);
        if produced == 0 && input.is_empty() {
            if tail.is_empty() {
                return total;
            }
            input = std::mem::take(&mut tail);
        }
    }
}

fn flate2_inflate(compressed: &[u8], out: &mut Vec<u8>) -> usize {
    let mut d = Decompress::new(false);
    out.clear();
    // The payload, then the restored tail: no copy to join them.
    for input in [compressed, &TAIL[..]] {
        d.decompress_vec(input, out, FlushDecompress::Sync)
            .expect("inflate");
    }
    out.len()
}

fn deflate(c: &mut Criterion) {
    let inputs = [("chat-text", chat_text()), ("random", random_bytes())];
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = vec![0u8; max_compressed_len(LEN)];
    let mut vec_out = Vec::with_capacity(2 * LEN);

    let mut g = c.benchmark_group("deflate-compress");
    g.throughput(Throughput::Bytes(LEN as u64));
    for (name, input) in &inputs {
        let ours = ours_compress(&mut compressor, input, &mut out);
        let fast = flate2_compress(1, input, &mut vec_out);
        let default = flate2_compress(6, input, &mut vec_out);
        eprintln!("{name}: {LEN} B -> ws {ours} B, flate2 level 1 {fast} B, level 6 {default} B");
        g.bench_with_input(BenchmarkId::new("ws", name), input, |b, input| {
            b.iter(|| ours_compress(&mut compressor, black_box(input), &mut out))
        });
        for level in [1, 6] {
            g.bench_with_input(
                BenchmarkId::new(format!("flate2-level{level}"), name),
                input,
                |b, input| b.iter(|| flate2_compress(level, black_box(input), &mut vec_out)),
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("deflate-inflate");
    g.throughput(Throughput::Bytes(LEN as u64));
    let mut window = vec![0u8; WindowBits::MAX.bytes()];
    for (name, input) in &inputs {
        // The same stream for both: what a zlib peer (level 6) sends.
        flate2_compress(6, input, &mut vec_out);
        let compressed = vec_out[..vec_out.len() - TAIL.len()].to_vec();
        assert_eq!(ours_inflate(&compressed, &mut window), LEN);
        assert_eq!(flate2_inflate(&compressed, &mut vec_out), LEN);
        g.bench_with_input(
            BenchmarkId::new("ws", name),
            &compressed,
            |b, compressed| b.iter(|| ours_inflate(black_box(compressed), &mut window)),
        );
        g.bench_with_input(
            BenchmarkId::new("flate2", name),
            &compressed,
            |b, compressed| b.iter(|| flate2_inflate(black_box(compressed), &mut vec_out)),
        );
    }
    g.finish();
}

criterion_group!(benches, deflate);
criterion_main!(benches);
