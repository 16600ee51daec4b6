//! WebSocket echo in memory, for counting instructions per echoed message (no TUN, no root,
//! no clock): the server glue with a streaming echo app (as `tunws /echo`) and the stack's
//! client role, on two stacks wired back to back on a simulated clock.
//!
//! ```text
//! echo_cost [MESSAGES] [SIZE] [CONNECTIONS] [TICK_US]     (defaults: 1000 4096 1 0)
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/echo_cost 2000 4096
//! ```
//! Each connection sends `MESSAGES` binary messages of `SIZE` bytes, one at a time (the next
//! when the echo of the last one arrived whole and equal), then the program prints how many
//! came back. The simulated clock jumps to the next timer when nothing moves, and with
//! `TICK_US` also moves that many microseconds every turn (so deadlines that follow traffic,
//! like the keepalive, move as they do in a real run). Instructions per message: run with two message counts and divide the difference
//! in callgrind's total by the difference in messages (the setup cancels out). The count covers
//! both ends (the client masks, the server unmasks); the server's share is the inclusive cost
//! of `Server::handle` and of the server `Net`'s polls.

use std::process::ExitCode;

use stack::client::{Client, ClientApp, ClientConfig, Sender};
use stack::device::memory;
use stack::server::{Echo, Server, ServerConfig};
use stack::{Duration, Instant, IpCidr, Net, NetConfig};
use ws::MessageKind;

const MTU: usize = 1500;

/// Sends `left` messages one at a time and checks each echo.
struct Sequence {
    message: Vec<u8>,
    left: usize,
    echoed: usize,
    wrong: usize,
}

impl ClientApp for Sequence {
    fn on_open(&mut self, out: &mut Sender<'_>) {
        self.next(out);
    }
    fn on_message(&mut self, out: &mut Sender<'_>, _kind: MessageKind, data: &[u8]) {
        self.echoed += 1;
        if data != self.message.as_slice() {
            self.wrong += 1;
        }
        self.next(out);
    }
}

impl Sequence {
    fn next(&mut self, out: &mut Sender<'_>) {
        if self.left > 0 {
            self.left -= 1;
            let _ = out.send(MessageKind::Binary, &self.message);
        }
    }
}

fn config(addr: &str) -> NetConfig {
    NetConfig {
        addr: addr.parse::<IpCidr>().expect("an address"),
        ..NetConfig::default()
    }
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let (messages, size, connections) = (arg(1, 1000), arg(2, 4096), arg(3, 1).max(1));
    let tick = Duration::from_micros(arg(4, 0) as u64);
    let (a, b) = memory::pair(MTU);
    let mut now = Instant::ZERO;
    let mut server_net =
        Net::with_link_seeded(Box::new(a), &config("10.0.0.2/24"), now, 1).expect("server stack");
    let mut client_net =
        Net::with_link_seeded(Box::new(b), &config("10.0.0.1/24"), now, 2).expect("client stack");
    server_net.listen(8080).expect("listen");
    let mut server = Server::new(ServerConfig::default());
    server.route("/echo", Box::new(Echo));
    let message: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    let mut peers: Vec<(Client, Sequence)> = (0..connections)
        .map(|_| {
            let config = ClientConfig {
                remote: ([10, 0, 0, 2], 8080).into(),
                host: "10.0.0.2:8080".into(),
                path: "/echo".into(),
                origin: None,
                max_message: 64 << 20,
                trace: false,
                deflate: None,
            };
            let client = Client::connect(&mut client_net, config, now).expect("connect");
            let app = Sequence {
                message: message.clone(),
                left: messages,
                echoed: 0,
                wrong: 0,
            };
            (client, app)
        })
        .collect();
    // Simulated time: a turn moves what can move; when nothing does, time jumps to the
    // nearest timer (a delayed ACK), as the tests' harness does.
    let deadline = now + Duration::from_secs(3600);
    while now < deadline {
        let mut active = true;
        while active {
            now += tick;
            active = client_net.poll(now);
            active |= server_net.poll(now);
            server.handle(&mut server_net, now);
            while client_net.poll_ready().is_some() {}
            while client_net.poll_gone().is_some() {}
            for (client, app) in &mut peers {
                if client.handle(&mut client_net, now, app).is_err() {
                    eprintln!("echo_cost: the client failed");
                    return ExitCode::FAILURE;
                }
            }
        }
        if peers.iter().all(|(_, app)| app.echoed == messages) {
            break;
        }
        let step = [
            client_net.poll_delay(now),
            server_net.poll_delay(now),
            server.poll_delay(now),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_millis(1));
        now += step.max(Duration::from_micros(100));
    }
    let echoed: usize = peers.iter().map(|(_, app)| app.echoed).sum();
    let wrong: usize = peers.iter().map(|(_, app)| app.wrong).sum();
    println!(
        "{echoed} of {} messages of {size} B echoed, {wrong} different, {:.3} s simulated",
        messages * connections,
        (now - Instant::ZERO).total_millis() as f64 / 1000.0
    );
    if echoed == messages * connections && wrong == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
