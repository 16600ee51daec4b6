//! The accept loop both kernel-TCP bench peers share: pinned to one CPU, one current-thread
//! runtime, one task per connection. Only the per-connection echo differs between peers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Listens on `listen` (printing `listening on ADDR` once bound) and runs `serve` on every
/// accepted connection until the process is killed. A failing connection ends only itself:
/// the load generator reports it.
pub fn run<F, Fut, E>(listen: SocketAddr, cpu: Option<usize>, serve: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    if let Some(cpu) = cpu {
        crate::pin_to_cpu(cpu)?;
    }
    crate::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(listen).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let connection = serve(stream);
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    })
}
