//! `tunws client`: stdin lines out as text messages, text messages in as stdout lines; or,
//! with `--echo`, every message back to the server.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use stack::Net;
use stack::client::{ClientApp, ClientConfig, Sender};
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
            // End of input: nothing more to say, close normally.
            out.close(CloseCode::NORMAL, "");
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

/// Runs the client role; exit status 0 after a clean close (1000, 1001, or a close frame
/// without a code), 1 otherwise.
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
        Ok(code)
            if [
                CloseCode::NORMAL,
                CloseCode::GOING_AWAY,
                CloseCode::NO_STATUS,
            ]
            .contains(&code) =>
        {
            log::info!("closed ({code})");
            Ok(ExitCode::SUCCESS)
        }
        Ok(code) => {
            log::error!("connection ended abnormally ({code})");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            log::error!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
