//! `tunws client`: the client role of the same stack, against a tungstenite server listening on
//! the kernel side (10.0.0.1) of the namespace.

use netns_tests::tungstenite::{self, Message};
use netns_tests::{IO_TIMEOUT, KERNEL_ADDR, Netns, require_root, spawn_tunws};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PORT: u16 = 9001;

/// Starts a one-connection WebSocket server on 10.0.0.1:9001 inside `ns`. It tells `connected`
/// when the handshake is done, runs `script` on the connection, then closes it with 1000 and
/// finishes the close handshake.
fn kernel_server(
    ns: &Netns,
    connected: mpsc::Sender<()>,
    script: impl FnOnce(&mut tungstenite::WebSocket<std::net::TcpStream>) + Send + 'static,
) -> JoinHandle<()> {
    ns.run(move || {
        let listener = TcpListener::bind((KERNEL_ADDR, PORT)).expect("bind 10.0.0.1:9001");
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = Instant::now() + IO_TIMEOUT;
            let stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("no connection from tunws client: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut ws = tungstenite::accept(stream).expect("server handshake with tunws client");
            connected.send(()).unwrap();
            script(&mut ws);
            ws.close(None).expect("close");
            loop {
                match ws.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("close handshake with tunws client: {e}"),
                }
            }
        })
    })
}

fn read_data(ws: &mut tungstenite::WebSocket<std::net::TcpStream>) -> Message {
    loop {
        match ws.read().expect("read from tunws client") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Close(f) => panic!("tunws client closed: {f:?}"),
            _ => {}
        }
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn client_sends_stdin_lines_and_prints_received_text() {
    require_root!();
    let ns = Netns::new("client");
    let (tx, rx) = mpsc::channel();
    let server = kernel_server(&ns, tx, |ws| {
        // Echo the one line the test types, so it shows up on the client's stdout.
        let msg = read_data(ws);
        assert_eq!(msg, Message::text("hello over the userspace stack"));
        ws.send(msg).expect("echo");
        ws.send(Message::text("second line from the server"))
            .expect("send");
    });
    let mut client = spawn_tunws(
        &ns,
        "tunws client",
        &["client", &format!("ws://{KERNEL_ADDR}:{PORT}/")],
    );
    rx.recv_timeout(IO_TIMEOUT)
        .unwrap_or_else(|_| panic!("tunws client did not connect:\n{}", client.stderr()));
    client.write_stdin(b"hello over the userspace stack\n");
    assert!(
        client.wait_for_output("second line from the server\n", IO_TIMEOUT),
        "client stdout: {:?}",
        client.stdout()
    );
    assert_eq!(
        client.stdout(),
        "hello over the userspace stack\nsecond line from the server\n"
    );
    server.join().expect("server thread");
    let status = client
        .wait_timeout(Duration::from_secs(10))
        .expect("tunws client still running after the close");
    assert!(status.success(), "tunws client exit status: {status}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn client_echo_mode_returns_text_and_binary_unchanged() {
    require_root!();
    let ns = Netns::new("clecho");
    let (tx, rx) = mpsc::channel();
    let server = kernel_server(&ns, tx, |ws| {
        let payloads = [
            Message::text("echo me, 𝄞"),
            Message::binary(vec![0u8, 1, 2, 0xff, 0xfe]),
            Message::binary(netns_tests::pattern_bytes(100_000, 3)),
        ];
        for msg in payloads {
            ws.send(msg.clone()).expect("send");
            assert!(
                read_data(ws) == msg,
                "tunws client --echo changed a {} byte message",
                msg.len()
            );
        }
    });
    let mut client = spawn_tunws(
        &ns,
        "tunws client --echo",
        &["client", "--echo", &format!("ws://{KERNEL_ADDR}:{PORT}/")],
    );
    rx.recv_timeout(IO_TIMEOUT)
        .unwrap_or_else(|_| panic!("tunws client did not connect:\n{}", client.stderr()));
    server.join().expect("server thread");
    let status = client
        .wait_timeout(Duration::from_secs(10))
        .expect("tunws client still running after the close");
    assert!(status.success(), "tunws client exit status: {status}");
}
