//! `tunws client`: stdin lines out as text messages, text messages in as stdout lines; or,
//! with `--echo`, every message back to the server.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use stack::Net;
use stack::client::{ClientApp, ClientConfig, Sender};
use ws::deflate::DeflatePolicy;
use ws::{CloseCode, MessageKind};

use crate::cli::ClientArgs;
use crate::signals;

/// Prints received text, sends stdin lines.
struct Lines {
    /// Stdin bytes after the last newline.
    partial: Vec<u8>,
}

impl ClientApp for Lines {
    fn on_message(&mut self, _out: &mut Sender<'_>, kind: MessageKind, data: &[u8]) {
        let mut stdout = io::stdout().lock();
        let written = match kind {
            MessageKind::Text => stdout
                .write_all(data)
                .and_then(|()| stdout.write_all(b"\n")),
            MessageKind::Binary => {
                log::info!(
                    "received a binary message of {} bytes (not printed)",
                    data.len()
                );
                Ok(())
            }
        };
        if let Err(e) = written.and_then(|()| stdout.flush()) {
            log::warn!("stdout: {e}");
        }
    }

    fn on_input(&mut self, out: &mut Sender<'_>) -> io::Result<bool> {
        // Bigger than Stdin's internal buffer, so each call is exactly one read(2) and nothing
        // is left buffered where ppoll cannot see it.
        let mut buf = vec![0u8; 64 * 1024];
        let n = io::stdin().lock().read(&mut buf)?;
        if n == 0 {
            if !self.partial.is_empty() {
                let last = std::mem::take(&mut self.partial);
                self.send_line(out, &last);
            }
            // End of input: the client role closes once the replies have stopped coming.
            return Ok(false);
        }
        self.partial.extend_from_slice(&buf[..n]);
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.send_line(out, &line[..pos]);
        }
        Ok(true)
    }
}

impl Lines {
    fn send_line(&self, out: &mut Sender<'_>, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A text message must be UTF-8; replace what is not rather than fail the connection.
        let text = String::from_utf8_lossy(line);
        if let Err(e) = out.send(MessageKind::Text, text.as_bytes()) {
            log::warn!("line not sent: {e}");
        }
    }
}

/// Sends every message back unchanged.
struct Echo;

impl ClientApp for Echo {
    fn on_message(&mut self, out: &mut Sender<'_>, kind: MessageKind, data: &[u8]) {
        if let Err(e) = out.send(kind, data) {
            log::warn!("echo not sent: {e}");
        }
    }
}

/// Runs the client role; exit status 0 after a clean close (see `is_clean`), 1 otherwise.
pub fn run(args: &ClientArgs) -> io::Result<ExitCode> {
    let config = crate::net_config(&args.tun, 16);
    let mut net = Net::open(&config).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open TUN device {}: {e}", args.tun.tun),
        )
    })?;
    let client_config = ClientConfig {
        remote: args.url.remote,
        host: args.url.host.clone(),
        path: args.url.path.clone(),
        origin: None,
        max_message: args.max_message,
        trace: args.tun.trace,
        deflate: args.deflate.then(DeflatePolicy::default),
    };
    let stdin = io::stdin();
    let (mut lines, mut echo) = (
        Lines {
            partial: Vec::new(),
        },
        Echo,
    );
    let (app, input): (&mut dyn ClientApp, _) = if args.echo {
        (&mut echo, None)
    } else {
        (&mut lines, Some(stdin.as_raw_fd()))
    };
    match stack::client::run(&mut net, client_config, app, input, &signals::STOP) {
        Ok(code) if is_clean(code) => {
            log::info!("closed ({code})");
            Ok(ExitCode::SUCCESS)
        }
        Ok(CloseCode::ABNORMAL) => {
            log::error!("the TCP connection ended without a closing handshake (1006)");
            Ok(ExitCode::FAILURE)
        }
        Ok(code) => {
            log::error!("closed with error code {code}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            log::error!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether a finished connection counts as a success: the closing handshake ended with a
/// normal code (1000, 1001), without a code (1005), or with an application's own code
/// (3000–4999, which RFC 6455 leaves to applications); protocol and server errors do not.
fn is_clean(code: CloseCode) -> bool {
    matches!(code.0, 1000 | 1001 | 1005 | 3000..=4999)
}
