//! Frame codec micro-benchmarks: `ws` against tungstenite and fastwebsockets doing the same work
//! in the same run, with memcpy of the same bytes as the physical floor.
//!
//! Every implementation decodes (or encodes) the same wire bytes: batches of back-to-back binary
//! frames (≈64 KiB of frames per iteration for small payloads, one frame for 64 KiB and 1 MiB),
//! so the per-iteration work and the reported throughput are comparable across libraries.
//! - decode: the wire bytes are in an arrival buffer (the TCP receive ring, for the stack); each
//!   library copies every payload once into a buffer of its own or of its caller's and unmasks
//!   it. ws with `read_into` does both in one pass (arrival buffer → caller's buffer); ws with
//!   `handle_read` ("ws-in-place") copies the bytes into the caller's buffer and unmasks them
//!   there, as the others do with their read buffer (from an in-memory stream). Binary frames,
//!   so no UTF-8 validation anywhere.
//! - encode: one whole frame written as wire bytes into a reused buffer (client role: masked).
//! - unmask: XOR of a buffer in place (tungstenite does not export its routine).
//! - accept_key: SHA-1 + base64 of the RFC 6455 sample key (fastwebsockets only has it behind
//!   its hyper-based `upgrade` feature).
//!
//! Ratio tables: `python3 bench/report.py criterion` after `cargo bench -p ws`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use ws::{Config, Connection, Event, Instant, MessageKind, Role};

const SIZES: [usize; 4] = [32, 4 << 10, 64 << 10, 1 << 20];
/// Frames per iteration cover at least this many payload bytes, so small-frame figures are not
/// dominated by the benchmark loop.
const BATCH_BYTES: usize = 64 << 10;
const MASKING_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn frames_per_batch(payload: usize) -> usize {
    (BATCH_BYTES / payload).max(1)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// One binary frame, as a client (masked) or a server (unmasked) sends it.
fn wire_frame(len: usize, masked: bool) -> Vec<u8> {
    let mut out = vec![0x82];
    let mask_bit = if masked { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let mut body = payload(len);
    if masked {
        out.extend_from_slice(&MASKING_KEY);
        for (i, b) in body.iter_mut().enumerate() {
            *b ^= MASKING_KEY[i % 4];
        }
    }
    out.extend_from_slice(&body);
    out
}

fn batch(len: usize, masked: bool) -> Vec<u8> {
    wire_frame(len, masked).repeat(frames_per_batch(len))
}

/// An endless in-memory socket: reads cycle through `data` (whole frames, so any read position
/// is a valid stream position), writes are discarded.
struct Cyclic {
    data: Vec<u8>,
    pos: usize,
}

impl Cyclic {
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let k = (buf.len() - n).min(self.data.len() - self.pos);
            buf[n..n + k].copy_from_slice(&self.data[self.pos..self.pos + k]);
            n += k;
            self.pos = (self.pos + k) % self.data.len();
        }
        n
    }
}

impl Read for Cyclic {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

impl Write for Cyclic {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Cyclic {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this.fill(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Cyclic {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future over an always-ready stream to completion without an executor.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the in-memory stream is always ready"),
    }
}

/// A cheap xorshift key source for the ws client role (the other libraries use `rand`).
fn key_source() -> impl FnMut() -> [u8; 4] {
    let mut x = 0x2545_f491_u32;
    move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x.to_ne_bytes()
    }
}

/// Calls `read(pos)` (a `ws` read from input offset `pos`, its event mapped by [`data_len`])
/// until no event comes; returns the input consumed and the payload bytes delivered.
fn decode_all(mut read: impl FnMut(usize) -> (usize, Option<usize>)) -> (usize, usize) {
    let (mut pos, mut got) = (0, 0);
    loop {
        match read(pos) {
            (n, Some(len)) => (pos, got) = (pos + n, got + len),
            (n, None) => return (pos + n, got),
        }
    }
}

/// The payload length of a data event; only data events are expected.
fn data_len(event: Event<'_>) -> usize {
    match event {
        Event::Data { payload, .. } => black_box(payload).len(),
        other => panic!("unexpected event {other:?}"),
    }
}

fn ws_decode(c: &mut Criterion, group: &str, masked: bool) {
    let mut g = c.benchmark_group(group);
    for len in SIZES {
        let wire = batch(len, masked);
        let frames = frames_per_batch(len);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        let now = Instant::from_micros(0);
        // Masked frames go client → server, so the server role decodes them, and vice versa.
        let (ws_role, tg_role, fw_role) = if masked {
            (
                Role::Server,
                tungstenite::protocol::Role::Server,
                fastwebsockets::Role::Server,
            )
        } else {
            (
                Role::Client,
                tungstenite::protocol::Role::Client,
                fastwebsockets::Role::Client,
            )
        };

        g.bench_function(BenchmarkId::new("ws", len), |b| {
            // `read_into`: payloads go from the arrival buffer into the caller's, unmasked in
            // the same pass.
            let mut conn = Connection::new(ws_role, Config::default(), key_source(), now);
            let mut out = vec![0u8; len];
            b.iter(|| {
                let read = decode_all(|pos| {
                    let (n, event) = conn.read_into(&wire[pos..], &mut out, now);
                    (n, event.map(data_len))
                });
                assert_eq!(read, (wire.len(), frames * len));
            });
        });

        g.bench_function(BenchmarkId::new("ws-in-place", len), |b| {
            // `handle_read`: the bytes are copied into the caller's buffer, then unmasked there.
            let mut conn = Connection::new(ws_role, Config::default(), key_source(), now);
            let mut buf = vec![0u8; wire.len()];
            b.iter(|| {
                buf.copy_from_slice(&wire);
                let read = decode_all(|pos| {
                    let (n, event) = conn.handle_read(&mut buf[pos..], now);
                    (n, event.map(data_len))
                });
                assert_eq!(read, (wire.len(), frames * len));
            });
        });

        g.bench_function(BenchmarkId::new("tungstenite", len), |b| {
            let mut sock = tungstenite::WebSocket::from_raw_socket(
                Cyclic {
                    data: wire.clone(),
                    pos: 0,
                },
                tg_role,
                None,
            );
            b.iter(|| {
                for _ in 0..frames {
                    match sock.read() {
                        Ok(tungstenite::Message::Binary(p)) => assert_eq!(black_box(p).len(), len),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
        });

        g.bench_function(BenchmarkId::new("fastwebsockets", len), |b| {
            let mut sock = fastwebsockets::WebSocket::after_handshake(
                Cyclic {
                    data: wire.clone(),
                    pos: 0,
                },
                fw_role,
            );
            sock.set_max_message_size(64 << 20);
            b.iter(|| {
                for _ in 0..frames {
                    let frame = ready(sock.read_frame()).expect("valid frame");
                    assert_eq!(black_box(frame.payload).len(), len);
                }
            });
        });

        g.bench_function(BenchmarkId::new("memcpy", len), |b| {
            let mut buf = vec![0u8; wire.len()];
            b.iter(|| buf.copy_from_slice(black_box(&wire)));
        });
    }
    g.finish();
}

fn ws_encode(c: &mut Criterion, group: &str, masked: bool) {
    let mut g = c.benchmark_group(group);
    for len in SIZES {
        let body = payload(len);
        let frames = frames_per_batch(len);
        let wire_len = wire_frame(len, masked).len();
        g.throughput(Throughput::Bytes((wire_len * frames) as u64));
        let now = Instant::from_micros(0);
        let (ws_role, tg_role, fw_role) = if masked {
            (
                Role::Client,
                tungstenite::protocol::Role::Client,
                fastwebsockets::Role::Client,
            )
        } else {
            (
                Role::Server,
                tungstenite::protocol::Role::Server,
                fastwebsockets::Role::Server,
            )
        };

        g.bench_function(BenchmarkId::new("ws", len), |b| {
            let mut conn = Connection::new(ws_role, Config::default(), key_source(), now);
            let mut out = vec![0u8; wire_len];
            b.iter(|| {
                for _ in 0..frames {
                    let n = conn
                        .send(MessageKind::Binary, black_box(&body), &mut out)
                        .expect("fits");
                    assert_eq!(black_box(&out[..n]).len(), wire_len);
                }
            });
        });

        g.bench_function(BenchmarkId::new("tungstenite", len), |b| {
            // tungstenite's own send path (frame, mask for clients, format into its write buffer,
            // flush to the stream); the payload is shared, not copied, by the Message.
            let mut sock = tungstenite::WebSocket::from_raw_socket(
                Cyclic {
                    data: vec![0],
                    pos: 0,
                },
                tg_role,
                None,
            );
            let body = tungstenite::Bytes::from(body.clone());
            b.iter(|| {
                for _ in 0..frames {
                    sock.send(tungstenite::Message::Binary(body.clone()))
                        .expect("sink accepts");
                }
            });
        });

        g.bench_function(BenchmarkId::new("fastwebsockets", len), |b| {
            // What fastwebsockets' write half does per frame: mask in place (client) and format;
            // `Frame::write` puts head and payload into one buffer.
            let mut scratch = body.clone();
            let mut out = Vec::with_capacity(wire_len);
            b.iter(|| {
                for _ in 0..frames {
                    let mut frame = fastwebsockets::Frame::binary(
                        fastwebsockets::Payload::BorrowedMut(&mut scratch),
                    );
                    if fw_role == fastwebsockets::Role::Client {
                        frame.mask();
                    }
                    assert_eq!(black_box(frame.write(&mut out)).len(), wire_len);
                }
            });
        });

        g.bench_function(BenchmarkId::new("memcpy", len), |b| {
            let mut out = vec![0u8; wire_len];
            b.iter(|| {
                for _ in 0..frames {
                    out[wire_len - len..].copy_from_slice(black_box(&body));
                    black_box(&out);
                }
            });
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    ws_decode(c, "decode_masked", true);
    ws_decode(c, "decode_unmasked", false);
}

fn encode(c: &mut Criterion) {
    ws_encode(c, "encode_masked", true);
    ws_encode(c, "encode_unmasked", false);
}

fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for len in SIZES {
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = payload(len);
        g.bench_function(BenchmarkId::new("ws", len), |b| {
            b.iter(|| ws::apply_mask(black_box(&mut buf), MASKING_KEY, 0));
        });
        g.bench_function(BenchmarkId::new("fastwebsockets", len), |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut buf), MASKING_KEY));
        });
        let src = payload(len);
        g.bench_function(BenchmarkId::new("memcpy", len), |b| {
            b.iter(|| buf.copy_from_slice(black_box(&src)));
        });
    }
    g.finish();
}

fn accept_key(c: &mut Criterion) {
    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
    assert_eq!(
        &ws::handshake::accept_key(KEY),
        tungstenite::handshake::derive_accept_key(KEY).as_bytes()
    );
    let mut g = c.benchmark_group("accept_key");
    g.bench_function("ws", |b| {
        b.iter(|| ws::handshake::accept_key(black_box(KEY)))
    });
    g.bench_function("tungstenite", |b| {
        b.iter(|| tungstenite::handshake::derive_accept_key(black_box(KEY)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Short but stable enough on a 2-core shared machine; criterion reports the spread.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2)).sample_size(30);
    targets = decode, encode, unmask, accept_key
}
criterion_main!(benches);
