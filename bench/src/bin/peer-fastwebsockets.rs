//! Bench peer: WebSocket echo server on kernel TCP with fastwebsockets, on a current-thread
//! runtime pinned to one core (tunws is single-threaded; this keeps the comparison one core each).
//! The opening handshake is bench::handshake (fastwebsockets ships its own only with hyper).

use clap::Parser;
use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket, WebSocketError};
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "fastwebsockets echo server (bench peer)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: SocketAddr,
    /// Pin the server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

async fn serve(mut stream: TcpStream) -> Result<(), WebSocketError> {
    stream.set_nodelay(true)?;
    bench::handshake::server(&mut stream).await?;
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                ws.write_frame(Frame::new(true, frame.opcode, None, frame.payload))
                    .await?;
            }
            // fastwebsockets has already echoed the close frame (auto_close).
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    bench::peer::run(args.listen, args.cpu, serve)
}
