//! Bench peer: WebSocket echo server on kernel TCP with tokio-tungstenite, on a current-thread
//! runtime pinned to one core (tunws is single-threaded; this keeps the comparison one core each).

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "tokio-tungstenite echo server (bench peer)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Pin the server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

async fn serve(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    stream.set_nodelay(true)?;
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(msg) = ws.next().await {
        // Pings are answered and closes echoed by tungstenite itself.
        if let m @ (Message::Text(_) | Message::Binary(_)) = msg? {
            ws.send(m).await?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    bench::peer::run(args.listen, args.cpu, serve)
}
