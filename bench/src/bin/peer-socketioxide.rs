//! Bench peer: socketioxide (a Rust Socket.IO server, pinned in bench/Cargo.toml) over kernel TCP,
//! with the handlers of tunws's `/socket.io/` chat (demo/src/socketio_chat.rs): presence
//! (`user joined` / `user left` with the count, to everyone), `chat message` to everyone, an
//! acknowledged `ping`. Served by hyper's HTTP/1.1 connection on a current-thread runtime pinned
//! to one core, like the other peers and single-threaded tunws.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use tokio::net::TcpStream;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "socketioxide chat server (bench peer)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9004")]
    listen: SocketAddr,
    /// Pin the server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

/// Longest user name kept, in characters (as tunws).
const MAX_NAME: usize = 32;
/// Longest chat message relayed, in bytes (as tunws).
const MAX_TEXT: usize = 64 * 1024;

/// The name a CONNECT auth payload gives (`anonymous` without one), as tunws picks it.
fn name_of(auth: Option<Value>) -> String {
    auth.as_ref()
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .map(|n| n.trim().chars().take(MAX_NAME).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "anonymous".into())
}

/// Registers the chat's handlers on the main namespace.
fn chat(io: &SocketIo) {
    let count = Arc::new(AtomicUsize::new(0));
    io.ns(
        "/",
        async move |s: SocketRef, io: SocketIo, TryData(auth): TryData<Value>| {
            let name = name_of(auth.ok());
            let now = count.fetch_add(1, Ordering::Relaxed) + 1;
            let _ = io
                .emit("user joined", &json!({ "name": name, "count": now }))
                .await;
            let sender = name.clone();
            s.on(
                "chat message",
                async move |io: SocketIo, Data(text): Data<String>| {
                    if text.len() <= MAX_TEXT {
                        let _ = io.emit("chat message", &(text, sender.clone())).await;
                    }
                },
            );
            s.on("ping", async |ack: AckSender| {
                let _ = ack.send(&());
            });
            let count = Arc::clone(&count);
            s.on_disconnect(async move |io: SocketIo| {
                let now = count.fetch_sub(1, Ordering::Relaxed) - 1;
                let _ = io
                    .emit("user left", &json!({ "name": name, "count": now }))
                    .await;
            });
        },
    );
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (svc, io) = SocketIo::new_svc();
    chat(&io);
    bench::peer::run(args.listen, args.cpu, move |stream: TcpStream| {
        let svc = svc.clone();
        async move {
            stream.set_nodelay(true)?;
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
                .map_err(std::io::Error::other)
        }
    })
}
